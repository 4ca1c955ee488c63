"""A model of Flan-T5's shape with random weights, random LoRA modules like the paper's, BBH-like examples.

Speed depends on shapes, not values, so the benchmark builds everything it times from random numbers, offline.
"""
from __future__ import annotations
import os, random
from pathlib import Path
import torch
from lorahub_nb.utils import quiet_loading
from lorahub_nb.testing import lora_shapes
from lorahub_nb.utils import save_adapter


_T5 = dict(feed_forward_proj="gated-gelu", relative_attention_num_buckets=32, relative_attention_max_distance=128,
           dropout_rate=0.1, layer_norm_epsilon=1e-6, tie_word_embeddings=False, is_encoder_decoder=True,
           decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)


SHAPES = {  # Flan-T5 configurations (google/flan-t5-{base,large} config.json), and a tiny one for tests
    "tiny": dict(vocab_size=384, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4),
    "base": dict(vocab_size=32128, d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_decoder_layers=12, num_heads=12),
    "large": dict(vocab_size=32128, d_model=1024, d_kv=64, d_ff=2816, num_layers=24, num_decoder_layers=24,
                  num_heads=16),
}


def t5_config(shape:str="tiny"):
    "A `T5Config` of one of `SHAPES`."
    from transformers import T5Config
    if shape not in SHAPES: raise ValueError(f"unknown shape {shape!r}; use one of {sorted(SHAPES)}")
    return T5Config(**_T5, **SHAPES[shape])


def random_t5(shape:str="tiny", seed:int=0, device=None): # built on `device` (a GPU initialises in moments)
    "A T5 model of `shape` with random weights, in eval mode."
    from transformers import T5ForConditionalGeneration
    torch.manual_seed(seed)
    with torch.device(device or "cpu"): return T5ForConditionalGeneration(t5_config(shape)).eval()


LORA = dict(task_type="SEQ_2_SEQ_LM", r=16, lora_alpha=32, target_modules=["q", "v"], lora_dropout=0.0)


def adapter_shapes(config, lora:dict=LORA) -> dict:
    "PEFT saved key -> shape of a LoRA adapter on a model of `config` (built on the meta device: no memory)."
    from transformers import T5ForConditionalGeneration
    with torch.device("meta"): model = T5ForConditionalGeneration(config)
    with quiet_loading(): return lora_shapes(model, lora)   # PEFT's warnings on wrapping a fresh model


def paper_like_state(shapes:dict, seed:int=0) -> dict:
    "Random LoRA tensors of these shapes scaled like trained ones: A ~ N(0, 1/in), B ten times smaller."
    g = torch.Generator().manual_seed(seed)
    scale = lambda k, s: s[1] ** 0.5 if "lora_A" in k else 10 * s[1] ** 0.5
    return {k: torch.randn(s, generator=g) / scale(k, s) for k, s in shapes.items()}


def random_modules(root, # folder to write `mod000`, `mod001`, ... into
                   shapes:dict, n:int, base:str, seed:int=0, lora:dict=LORA) -> list:
    "Write `n` random LoRA modules as PEFT folders; returns their paths."
    cfg = {**lora, "base_model_name_or_path": str(base)}
    return [save_adapter(paper_like_state(shapes, seed * 100_003 + i), cfg, Path(root) / f"mod{i:03d}")
            for i in range(n)]


_WORDS = ("the of and to in is was for on that with as by at from his her an were are which this be or has had not "
          "but what all when there can who been one more if no out so said up its about into than them only new some "
          "could time these two may first then do any like my now over such our man me even most made after also "
          "did many before must through back years where much your way well down should because each just "
          "those").split()


ANSWERS = ("(A)", "(B)", "(C)", "(D)", "True", "False", "valid", "invalid", "Yes", "No", "12", "7")


def bbh_like(n:int, # number of examples
             tokens:tuple=(120, 180), # range of input lengths, in ByT5 tokens (bytes)
             seed:int=0) -> list:
    "BBH-shaped examples: an input of `tokens` bytes of words and options, a short answer."
    rng, out = random.Random(seed), []
    for _ in range(n):
        L, s = rng.randint(*tokens), "Q:"
        while len(s) < L - 40: s += " " + rng.choice(_WORDS)
        s = (s + "? Options: (A) yes (B) no (C) maybe (D) none\nA:")[:L]
        out.append({"input": s, "output": rng.choice(ANSWERS)})
    return out


def make_workspace(root, shape:str="tiny", n_modules:int=20, seed:int=0, n_test:int=30) -> dict:
    "Base model folder, `n_modules` module folders, 5 adapt examples and `n_test` test examples, under `root`."
    from transformers import ByT5Tokenizer
    root = Path(root)
    base = root / "base"
    with quiet_loading(): random_t5(shape, seed).save_pretrained(base)   # no "writing shards" bar
    ByT5Tokenizer().save_pretrained(base)
    mods = random_modules(root / "modules", adapter_shapes(t5_config(shape)), n_modules, base, seed)
    return dict(root=root, shape=shape, base=base, modules=mods, examples=bbh_like(5, seed=seed),
                test=bbh_like(n_test, (100, 250), seed=seed + 1))


def decoding_tokenizer():
    "ByT5's tokenizer, able to decode any id of a 32128-token vocabulary (ids past the bytes wrap around)."
    from transformers import ByT5Tokenizer
    class _Wide(ByT5Tokenizer):
        def _convert_id_to_token(self, index):
            if index >= self.offset + 256 + 125: index = self.offset + (index - self.offset) % 256
            return super()._convert_id_to_token(index)
    return _Wide()


def bench_dtype(dtype:str="auto") -> str:
    "'auto' -> 'bf16' where the CPU runs bf16 natively (AVX-512 BF16 or AMX), else 'fp32'; other names unchanged."
    if dtype != "auto": return dtype
    try: fast = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except Exception: fast = False
    return "bf16" if fast else "fp32"


def bbh_folder(bbh_dir=None) -> Path:
    "The BBH folder: `bbh_dir`, else $LORAHUB_NB_BBH_DIR."
    d = bbh_dir or os.environ.get("LORAHUB_NB_BBH_DIR")
    if not d: raise ValueError("the real-scale bench needs the BBH task files: pass bbh_dir= or set LORAHUB_NB_BBH_DIR")
    return Path(d).expanduser()
