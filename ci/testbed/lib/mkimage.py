#!/usr/bin/env python3
"""Writes a single-layer `docker save` archive from local files, with no daemon and no registry.

    mkimage.py OUT.tar REF --file SRC:DEST[:MODE] ... [--entrypoint JSON] [--cmd JSON] [--user UID]

The archive is reproducible (fixed mtimes, sorted entries), so importing it twice is a no-op.
`ctr images import` accepts it.
"""
import argparse, hashlib, io, json, os, tarfile


def layer_bytes(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = set()
        for _, dest, _ in files:
            parts = dest.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for src, dest, mode in sorted(files, key=lambda f: f[1]):
            data = open(src, "rb").read()
            info = tarfile.TarInfo(dest.strip("/"))
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("ref")
    ap.add_argument("--file", action="append", default=[], help="SRC:DEST[:OCTAL_MODE]")
    ap.add_argument("--entrypoint", type=json.loads)
    ap.add_argument("--cmd", type=json.loads)
    ap.add_argument("--user")
    args = ap.parse_args()

    files = []
    for spec in args.file:
        src, dest, *mode = spec.split(":")
        files.append((src, dest, int(mode[0], 8) if mode else 0o755))
    layer = layer_bytes(files)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {k: v for k, v in {"Entrypoint": args.entrypoint, "Cmd": args.cmd, "User": args.user}.items() if v},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "cnicheck testbed mkimage.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id[len("sha256:"):] + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [args.ref], "Layers": [layer_name]}]).encode()

    tmp = args.out + ".tmp"
    with tarfile.open(tmp, mode="w") as tar:
        for name, data in ((layer_name, layer), (config_name, config_bytes), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
