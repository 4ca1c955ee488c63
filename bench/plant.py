"""A Hugging Face cache planted offline: Flan-T5-large's configuration with random weights and the published modules'
ids, in the 2023 format, so that the user's own command resolves them with no download."""
from __future__ import annotations
import contextlib, hashlib, io, json, os
from pathlib import Path
import torch
from lorahub_nb.utils import quiet_loading
from lorahub_nb.utils import MARKER, atomic_dir, write_json
from .workspace import SHAPES, adapter_shapes, paper_like_state, random_t5, t5_config


REVISION = hashlib.sha1(b"lorahub_nb real-scale").hexdigest()  # the one commit of every planted repo
BASE_ID = "google/flan-t5-large"  # the base model the published modules name


BASE_ID = "google/flan-t5-large"  # the base model the published modules name


def repo_folder(cache, repo_id:str) -> Path:
    "Where a Hugging Face cache keeps a model repo: `models--owner--name`."
    return Path(cache) / f"models--{repo_id.replace('/', '--')}"


def plant_repo(cache, # a Hugging Face cache folder (what HF_HUB_CACHE names)
               repo_id:str, write) -> bool: # write(folder) fills the snapshot
    "Plant `repo_id` in `cache` as `refs/main` -> one snapshot filled by `write`, once; True if written now."
    dst = repo_folder(cache, repo_id)
    if (dst / MARKER).exists(): return False
    with atomic_dir(dst) as tmp:
        snap = tmp / "snapshots" / REVISION
        snap.mkdir(parents=True)
        write(snap)
        (tmp / "refs").mkdir()
        (tmp / "refs" / "main").write_text(REVISION)
    return True


_HF_VARS = ("HF_HUB_OFFLINE", "HF_HUB_CACHE")


@contextlib.contextmanager
def offline_cache(hub): # a (planted) Hugging Face cache folder
    "Inside the block, hub ids resolve in `hub` and nothing is downloaded, in this process and in its children."
    import huggingface_hub.constants as C
    env, const = {k: os.environ.get(k) for k in _HF_VARS}, (C.HF_HUB_CACHE, C.HF_HUB_OFFLINE)
    os.environ.update(HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(hub))
    C.HF_HUB_CACHE, C.HF_HUB_OFFLINE = str(hub), True
    try: yield Path(hub)
    finally:
        C.HF_HUB_CACHE, C.HF_HUB_OFFLINE = const
        for k, v in env.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v


PEFT_02_CONFIG = dict(  # adapter_config.json of the published LoraHub modules (PEFT 0.2 era, 2023)
    base_model_name_or_path=BASE_ID, bias="none", enable_lora=None, fan_in_fan_out=False, inference_mode=True,
    lora_alpha=32, lora_dropout=0.1, merge_weights=False, modules_to_save=None, peft_type="LORA", r=16,
    target_modules=["q", "v"], task_type="SEQ_2_SEQ_LM")


def write_2023_module(folder, shapes:dict, seed:int=0):
    "`adapter_config.json` with PEFT 0.2's keys and `adapter_model.bin` (torch.save), as the published modules are."
    folder = Path(folder)
    (folder / "adapter_config.json").write_text(json.dumps(PEFT_02_CONFIG, indent=2))
    torch.save(paper_like_state(shapes, seed), folder / "adapter_model.bin")


def bbh_inputs(bbh_dir) -> list:
    "The inputs of every task file in a BBH folder."
    files = sorted(Path(bbh_dir).glob("*.json"))
    if not files: raise FileNotFoundError(f"no BBH task files (<task>.json) in {bbh_dir}")
    return [e["input"] for f in files for e in json.loads(f.read_text())["examples"]]


def _spm_pieces(texts:list, n:int) -> tuple:
    "(pieces with scores, normaliser charsmap) of a unigram SentencePiece model of `texts` with T5's special ids."
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=buf, vocab_size=n, model_type="unigram",
                                   pad_id=0, eos_id=1, unk_id=2, bos_id=-1, hard_vocab_limit=False,
                                   character_coverage=1.0, minloglevel=2, num_threads=2)
    proto = pb.ModelProto()
    proto.ParseFromString(buf.getvalue())
    return [(p.piece, p.score) for p in proto.pieces], proto.normalizer_spec.precompiled_charsmap


def t5_tokenizer(texts:list, # what to train on
                 n_pieces:int=32000): # T5's SentencePiece size (fillers make up what the texts do not support)
    "A T5 tokenizer (pad 0, eos 1, unk 2, 100 extra ids after the pieces) trained offline on `texts`."
    from transformers import T5Tokenizer
    pieces, charsmap = _spm_pieces(texts, n_pieces)
    pieces += [(f"<unused_{i}>", -1e4) for i in range(n_pieces - len(pieces))]
    return T5Tokenizer(vocab=pieces, extra_ids=100, _spm_precompiled_charsmap=charsmap)


def write_random_base(folder, shape:str, texts:list, seed:int=0):
    "A T5 of `shape` with random weights and a T5 tokenizer trained on `texts`, saved as a transformers folder."
    with quiet_loading(): random_t5(shape, seed).save_pretrained(folder)
    t5_tokenizer(texts, SHAPES[shape]["vocab_size"] - 128).save_pretrained(folder)


PLANT_FORMAT = 1  # bump when what is planted changes


def real_scale_dir(cache_dir=None, shape:str="large") -> Path:
    "The planted cache's folder: `real-scale` in the project's cache (`utils.cache_root`), suffixed if not large."
    from lorahub_nb.utils import cache_root
    return cache_root(cache_dir) / ("real-scale" if shape == "large" else f"real-scale-{shape}")


def _check_manifest(root:Path, want:dict):
    "Refuse a planted cache built with other settings."
    f = root / "planted.json"
    if f.exists() and json.loads(f.read_text()) != want:
        raise ValueError(f"{root} holds a planted cache of other settings; remove it or use another cache_dir")


def plant_real_scale(root, # the folder to plant into (see `real_scale_dir`); the HF cache is `root/hub`
                     texts:list, # tokenizer training texts (the BBH inputs)
                     shape:str="large", modules:list=None, # hub ids (default: the published catalogue)
                     progress:bool=True) -> Path:
    "Plant the base model and the modules in a Hugging Face cache under `root`, once; returns the cache folder."
    from tqdm.auto import tqdm
    from lorahub_nb.modules import catalogue
    root, modules = Path(root), list(modules or catalogue())
    want = dict(format=PLANT_FORMAT, shape=shape, revision=REVISION, base=BASE_ID, modules=modules)
    _check_manifest(root, want)
    hub = root / "hub"
    plant_repo(hub, BASE_ID, lambda d: write_random_base(d, shape, texts))
    shapes = adapter_shapes(t5_config(shape))
    for i, rid in enumerate(tqdm(modules, desc="planting modules", disable=not progress, mininterval=2)):
        plant_repo(hub, rid, lambda d: write_2023_module(d, shapes, seed=i))
    write_json(root / "planted.json", want)
    return hub
