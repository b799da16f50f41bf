"""What a GPU machine needs besides the checkout, gathered into the git-ignored folder ``.gpu/``.

The device tool copies the working tree (tracked and untracked-not-ignored files) plus the
ignored paths a call names in ``carry``, 64 MiB in all, to a machine that reaches no network.
So everything `pgolf bench gpu` reads there is prepared here, on the CPU side, in one folder:

    .gpu/fineweb-mini/datasets/           sp1024: manifest, tokenizer, val, the first train shard(s)
    .gpu/fineweb-mini-caseops/datasets/   CaseOps sp8192: manifest, tokenizer, train, val, val bytes
    .gpu/reference/train_gpt.py           the official root train_gpt.py (the naive baseline)
    .gpu/wheels/*.whl                     the Python packages the GPU image lacks (cp312, manylinux)
    .gpu/prepared.json                    what was copied, its bytes, the commit it was prepared at

The GPU image's packages are those KINDS.md lists (read 2026-11-17); a dependency of pgolf that
is not among them travels as a wheel of the version installed here, with its own requirements.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from pgolf.errors import PgolfError

CARRY_LIMIT_BYTES = 64 * 2**20  # the device tool's limit on everything that travels
PREPARED = "prepared.json"
SP1024 = "fineweb-mini/datasets"
CASEOPS = "fineweb-mini-caseops/datasets"
OFFICIAL = "reference/train_gpt.py"
WHEELS = "wheels"

# Python packages in the GPU machine's image ('cuda'), as KINDS.md lists them on 2026-11-17.
IMAGE_PACKAGES = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx
huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt
jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities
linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes
mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba
numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse
nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx
onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix
orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client
propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions
pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six
sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl
tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics
torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop
wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
""".split())

# The GPU machine's python3 is CPython 3.12 on x86-64 (KINDS.md); manylinux tags pip matches exactly.
WHEEL_TARGET = ["--python-version", "3.12", "--implementation", "cp",
                "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_27_x86_64",
                "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
                "--platform", "manylinux1_x86_64"]


def canonical(name: str) -> str:
    """A distribution name as package indexes compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str | None:
    """The distribution of one requirement line; None when it only applies under an extra."""
    if ";" in spec and "extra" in spec.split(";", 1)[1]:
        return None
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    return canonical(m.group(1)) if m else None


def project_requirements(pyproject: Path) -> list[str]:
    """pgolf's run-time and test requirements (names) from pyproject.toml."""
    import tomllib

    proj = tomllib.loads(pyproject.read_text())["project"]
    specs = list(proj.get("dependencies", [])) + list(proj.get("optional-dependencies", {}).get("test", []))
    return sorted({n for n in map(requirement_name, specs) if n})


def missing_from_image(names: list[str]) -> list[str]:
    return [n for n in names if canonical(n) not in IMAGE_PACKAGES]


def _installed_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        raise PgolfError(f"{name} is not installed here, so no wheel version can be chosen (run `make install`)") from None


def wheel_requirements(wheel: Path) -> list[str]:
    """Requires-Dist names of a wheel (extras left out)."""
    with zipfile.ZipFile(wheel) as z:
        meta = next((n for n in z.namelist() if n.endswith(".dist-info/METADATA")), None)
        text = z.read(meta).decode() if meta else ""
    specs = [ln.split(":", 1)[1] for ln in text.splitlines() if ln.startswith("Requires-Dist:")]
    return sorted({n for n in map(requirement_name, specs) if n})


def download_wheels(names: list[str], dest: Path) -> list[Path]:
    """Wheels of ``names`` (the versions installed here) and of their requirements the image lacks."""
    dest.mkdir(parents=True, exist_ok=True)
    todo, seen, got = list(names), set(), []
    while todo:
        name = canonical(todo.pop(0))
        if name in seen:
            continue
        seen.add(name)
        pin = f"{name}=={_installed_version(name)}"
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", *WHEEL_TARGET,
               "-d", str(dest), pin]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["pip download failed"])[-1]
            raise PgolfError(f"no cp312 manylinux wheel of {pin} could be downloaded: {last}")
        wheel = next((w for w in sorted(dest.glob("*.whl")) if canonical(w.name.split("-")[0]) == name), None)
        if wheel is None:
            raise PgolfError(f"pip reported {pin} downloaded but no wheel for it is in {dest}")
        got.append(wheel)
        todo += missing_from_image(wheel_requirements(wheel))
    return got


def _copy(src: Path, dst: Path) -> Path:
    """Copy a file unless an identical-looking copy (same size and mtime) is already there."""
    if not src.is_file():
        raise PgolfError(f"{src}: missing (the mini data and the reference sit in ../shared beside the checkout)")
    if dst.is_file() and dst.stat().st_size == src.stat().st_size and int(dst.stat().st_mtime) == int(src.stat().st_mtime):
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copy2(src, tmp)
    tmp.replace(dst)
    return dst


def official_script(shared: Path) -> Path:
    """The official root train_gpt.py, unpacked from the reference archive by its own loader."""
    path = shared / "reference" / "load_reference.py"
    if not path.is_file():
        raise PgolfError(f"{path}: missing (the official reference archive and its loader)")
    spec = importlib.util.spec_from_file_location("load_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    script = Path(mod.extract()) / "train_gpt.py"
    if not script.is_file():
        raise PgolfError(f"{script}: the reference archive has no root train_gpt.py")
    return script


def travelling_tree_bytes(repo: Path) -> int:
    """Bytes of the files the device tool copies without being asked: tracked and untracked, not ignored."""
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise PgolfError(f"{repo}: not a git checkout ({out.stderr.strip()})")
    files = {repo / f for f in out.stdout.split("\0") if f}
    return sum(f.stat().st_size for f in files if f.is_file() and not f.is_symlink())


def is_ignored(repo: Path, path: Path) -> bool:
    return subprocess.run(["git", "-C", str(repo), "check-ignore", "-q", str(path)]).returncode == 0


def prepare(dest: Path, shared: Path, repo: Path, train_shards: int = 1, wheels: bool = True) -> dict:
    """Fill ``dest`` (inside ``repo``, git-ignored) and return what prepared.json records."""
    from pgolf.bench.results import now_utc
    from pgolf.data.shards import shard_files
    from pgolf.data.sidecar import sidecar_files
    from pgolf.train.runlog import code_version, write_json

    if train_shards < 1:
        raise PgolfError("--train-shards must be at least 1")
    dest.mkdir(parents=True, exist_ok=True)
    if not is_ignored(repo, dest):
        raise PgolfError(f"{dest} is not ignored by git: it would travel twice and be committed (add it to .gitignore)")
    files: list[Path] = []
    sp = shared / SP1024
    sp_ds = sp / "datasets" / "fineweb10B_sp1024"
    picked = [sp / "manifest.json", sp / "tokenizers" / "fineweb_1024_bpe.model",
              *shard_files(sp_ds, "val"), *shard_files(sp_ds, "train")[:train_shards]]
    files += [_copy(f, dest / SP1024 / f.relative_to(sp)) for f in picked]
    co = shared / CASEOPS
    co_files = [co / "manifest.json", *sorted((co / "tokenizers").glob("*.model"))]
    for ds in sorted((co / "datasets").glob("fineweb10B_*")):
        co_files += [*shard_files(ds, "train"), *shard_files(ds, "val"), *sidecar_files(ds, "val")]
    files += [_copy(f, dest / CASEOPS / f.relative_to(co)) for f in co_files]
    files.append(_copy(official_script(shared), dest / OFFICIAL))
    wheel_names = missing_from_image(project_requirements(repo / "pyproject.toml"))
    if wheels:
        for stale in (dest / WHEELS).glob("*.whl"):
            stale.unlink()
        download_wheels(wheel_names, dest / WHEELS)
    files += sorted((dest / WHEELS).glob("*.whl"))
    keep = set(files) | {dest / PREPARED}
    for stray in [f for f in dest.rglob("*") if f.is_file() and f not in keep]:
        stray.unlink()  # left by an earlier prepare (another shard count): it would travel too
    carried = sum(f.stat().st_size for f in files)
    tree = travelling_tree_bytes(repo)
    info = dict(
        commit=code_version(repo), created=now_utc().isoformat(timespec="seconds"), dest=str(dest),
        train_shards=train_shards, missing_from_image=wheel_names,
        wheels=sorted(p.name for p in (dest / WHEELS).glob("*.whl")),
        carried_bytes=carried, tree_bytes=tree, total_bytes=carried + tree, limit_bytes=CARRY_LIMIT_BYTES,
        files={str(f.relative_to(dest)): f.stat().st_size for f in files},
    )
    write_json(dest / PREPARED, info)
    if info["total_bytes"] > CARRY_LIMIT_BYTES:
        raise PgolfError(f"{dest} ({carried:,} bytes) plus the checkout ({tree:,} bytes) is "
                         f"{carried + tree:,} bytes, over the device tool's {CARRY_LIMIT_BYTES:,}")
    return info


def read_prepared(dest: Path) -> dict | None:
    try:
        return json.loads((dest / PREPARED).read_text())
    except (OSError, json.JSONDecodeError):
        return None
