#!/usr/bin/env python3
"""Writes a single-layer `docker save` archive from local files, with no daemon and no registry.

    mkimage.py OUT.tar REF [--file SRC:DEST[:MODE]] [--tree SRC:DEST] [--host PATH] [--link TARGET:DEST]
                           [--dir DEST[:MODE]] [--entrypoint JSON] [--cmd JSON] [--user UID] [--env K=V]

--file   one file, at DEST (mode 755 unless given).
--tree   a directory's files (mode 644, or 755 where the owner may execute), under DEST.
--host   a path of this machine, at the same path in the image, as it is here: every symlink on the
         way (/lib -> usr/lib, /usr/sbin/iptables -> /etc/alternatives/iptables -> ...) is a symlink
         in the image too, a directory comes with all it holds, and an ELF program or library comes
         with the shared libraries it loads (ldd), so a dynamically linked Debian tool runs as is.
--link   a symlink at DEST pointing to TARGET.
--dir    an empty directory (mode 755 unless given).

The archive is reproducible (fixed mtimes and owners, sorted entries), so importing it twice is a
no-op. The layer is streamed through a file beside OUT, so large images take little memory.
`ctr images import` accepts it.
"""
import argparse, hashlib, io, json, os, stat, subprocess, tarfile


class Layer:
    """The layer's entries by path (relative, no leading slash): ("file", src, mode), ("dir", mode),
    ("link", target)."""

    def __init__(self):
        self.entries = {}

    def put(self, dest, entry):
        dest = os.path.normpath(dest).strip("/")
        old = self.entries.get(dest)
        if old is not None and old != entry:
            raise SystemExit(f"mkimage: {dest} given twice, differently: {old} and {entry}")
        self.entries[dest] = entry

    def add_file(self, src, dest, mode):
        self.put(dest, ("file", src, mode))

    def add_tree(self, src, dest):
        for root, dirs, files in os.walk(src):
            dirs.sort()
            rel = os.path.relpath(root, src)
            self.put(os.path.join(dest, rel), ("dir", 0o755))
            for name in sorted(files):
                path = os.path.join(root, name)
                mode = 0o755 if os.stat(path).st_mode & stat.S_IXUSR else 0o644
                self.add_file(path, os.path.join(dest, rel, name), mode)

    def add_host(self, path, seen=None):
        seen = set() if seen is None else seen
        real = self._walk_host(path)
        if real in seen:
            return
        seen.add(real)
        st = os.stat(real)
        if stat.S_ISDIR(st.st_mode):
            self.put(real, ("dir", stat.S_IMODE(st.st_mode)))
            for name in sorted(os.listdir(real)):
                self.add_host(os.path.join(real, name), seen)
        elif stat.S_ISREG(st.st_mode):
            self.add_file(real, real, stat.S_IMODE(st.st_mode))
            for lib in shared_libraries(real):
                self.add_host(lib, seen)
        else:
            raise SystemExit(f"mkimage: {path}: neither a file nor a directory")

    def _walk_host(self, path):
        """Resolves PATH on this machine one component at a time, recording every symlink met."""
        cur, todo, hops = "/", [c for c in path.split("/") if c], 0
        while todo:
            part = todo.pop(0)
            if part == ".":
                continue
            if part == "..":
                cur = os.path.dirname(cur)
                continue
            nxt = os.path.join(cur, part)
            if os.path.islink(nxt):
                hops += 1
                if hops > 40:
                    raise SystemExit(f"mkimage: {path}: too many symlinks")
                target = os.readlink(nxt)
                self.put(nxt, ("link", target))
                if target.startswith("/"):
                    cur = "/"
                todo = [c for c in target.split("/") if c] + todo
            else:
                cur = nxt
        return cur

    def check(self):
        links = {p for p, e in self.entries.items() if e[0] == "link"}
        for p in self.entries:
            parts = p.split("/")
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) in links:
                    raise SystemExit(f"mkimage: /{p} lies under the symlink /{'/'.join(parts[:i])}: give its real path")

    def write(self, fileobj):
        dirs = {}
        for p in self.entries:
            parts = p.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.setdefault("/".join(parts[:i]), ("dir", 0o755))
        entries = {**dirs, **self.entries}
        entries.pop("", None)
        with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT) as tar:
            # Directories first, then the rest, each sorted: what the first version of this script wrote.
            for path in sorted(entries, key=lambda p: (entries[p][0] != "dir", p)):
                entry = entries[path]
                info = tarfile.TarInfo(path)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if entry[0] == "dir":
                    info.type, info.mode = tarfile.DIRTYPE, entry[1]
                    tar.addfile(info)
                elif entry[0] == "link":
                    info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry[1], 0o777
                    tar.addfile(info)
                else:
                    _, src, mode = entry
                    info.size, info.mode = os.stat(src).st_size, mode
                    with open(src, "rb") as f:
                        tar.addfile(info, f)


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def shared_libraries(path):
    """The shared libraries PATH loads, with the program interpreter; none for a static binary."""
    if not is_elf(path):
        return []
    out = subprocess.run(["ldd", path], capture_output=True, text=True)
    libs = []
    for line in out.stdout.splitlines():
        words = line.split()
        if "=>" in words and len(words) > words.index("=>") + 1 and words[words.index("=>") + 1].startswith("/"):
            libs.append(words[words.index("=>") + 1])
        elif words and words[0].startswith("/"):
            libs.append(words[0])   # the interpreter, /lib64/ld-linux-x86-64.so.2
    if "not found" in out.stdout:
        raise SystemExit(f"mkimage: {path}: a shared library it needs is missing here:\n{out.stdout}")
    return libs


class HashingWriter:
    def __init__(self, f):
        self.f, self.sha = f, hashlib.sha256()

    def write(self, data):
        self.sha.update(data)
        return self.f.write(data)

    def tell(self):
        return self.f.tell()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("ref")
    ap.add_argument("--file", action="append", default=[], help="SRC:DEST[:OCTAL_MODE]")
    ap.add_argument("--tree", action="append", default=[], help="SRC_DIR:DEST_DIR")
    ap.add_argument("--host", action="append", default=[], help="PATH (same path in the image)")
    ap.add_argument("--link", action="append", default=[], help="TARGET:DEST")
    ap.add_argument("--dir", action="append", default=[], help="DEST[:OCTAL_MODE]")
    ap.add_argument("--entrypoint", type=json.loads)
    ap.add_argument("--cmd", type=json.loads)
    ap.add_argument("--user")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE")
    args = ap.parse_args()

    layer = Layer()
    for spec in args.file:
        src, dest, *mode = spec.split(":")
        layer.add_file(src, dest, int(mode[0], 8) if mode else 0o755)
    for spec in args.tree:
        src, dest = spec.split(":")
        layer.add_tree(src, dest)
    for path in args.host:
        layer.add_host(path)
    for spec in args.link:
        target, dest = spec.split(":")
        layer.put(dest, ("link", target))
    for spec in args.dir:
        dest, *mode = spec.split(":")
        layer.put(dest, ("dir", int(mode[0], 8) if mode else 0o755))
    layer.check()

    layer_tmp = args.out + ".layer.tmp"
    with open(layer_tmp, "wb") as f:
        writer = HashingWriter(f)
        layer.write(writer)
    diff_id = "sha256:" + writer.sha.hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {k: v for k, v in {"Entrypoint": args.entrypoint, "Cmd": args.cmd, "User": args.user,
                                      "Env": args.env}.items() if v},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "cnicheck testbed mkimage.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id[len("sha256:"):] + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [args.ref], "Layers": [layer_name]}]).encode()

    tmp = args.out + ".tmp"
    with tarfile.open(tmp, mode="w") as tar:
        info = tarfile.TarInfo(layer_name)
        info.size, info.mode, info.mtime = os.path.getsize(layer_tmp), 0o644, 0
        with open(layer_tmp, "rb") as f:
            tar.addfile(info, f)
        for name, data in ((config_name, config_bytes), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    os.remove(layer_tmp)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
