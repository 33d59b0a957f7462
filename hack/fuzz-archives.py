#!/usr/bin/env python3
"""Small archives for the `tarread` and `extract` fuzz seeds (hack/fuzz runs
this at run time; nothing it writes is committed).

usage: fuzz-archives.py TAR_DIR EXTRACT_DIR

TAR_DIR gets uncompressed tars in every header format (ustar, GNU with
long names, PAX with long names, extended attributes and apk's SHA-1
record, v7), with files, folders, symbolic and hard links. EXTRACT_DIR gets
each compressed as `extract` sniffs it (gzip, bzip2, xz, zstd when the
`zstd` tool is there, lzip), as zip (with a symbolic link), and a few
hostile ones `extract` must refuse (`..`, absolute paths, links out of the
tree, writes through links). Deterministic: fixed times, no host names.
"""

import gzip
import bz2
import io
import lzma
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib

MTIME = 1_700_000_000


def member(name, kind=tarfile.REGTYPE, data=b"", link="", pax=None, mode=0o644):
    info = tarfile.TarInfo(name)
    info.type, info.mtime, info.mode = kind, MTIME, mode
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    if pax:
        info.pax_headers = dict(pax)
    return info, data


def tar(members, fmt=tarfile.PAX_FORMAT):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data else None)
    return out.getvalue()


def tree(long_names=False, pax=False):
    deep = "src/" + "d" * 60 + "/" + "e" * 60 + "/" if long_names else "src/sub/"
    extra = {}
    if pax:
        extra = {
            "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\n\x00",
            "APK-TOOLS.checksum.SHA1": "0" * 40,
        }
    return [
        member("src/", tarfile.DIRTYPE, mode=0o755),
        member("src/README", data=b"hello\n", pax=extra),
        member(deep + "main.c", data=b"int main(void) { return 0; }\n" * 4),
        member("src/bin/", tarfile.DIRTYPE, mode=0o755),
        member("src/bin/run", data=b"#!/bin/sh\necho run\n", mode=0o755),
        member("src/link", tarfile.SYMTYPE, link="README"),
        member("src/bin/up", tarfile.SYMTYPE, link="../README"),
        member("src/hard", tarfile.LNKTYPE, link="src/README"),
    ]


def lzip(data):
    """An lzip member: header, raw LZMA (lc 3, lp 0, pb 2, end marker), trailer."""
    dict_size = 1 << 16
    raw = lzma.compress(
        data,
        format=lzma.FORMAT_RAW,
        filters=[{"id": lzma.FILTER_LZMA1, "lc": 3, "lp": 0, "pb": 2, "dict_size": dict_size}],
    )
    header = b"LZIP\x01" + bytes([16])  # 2^16 bytes of dictionary
    trailer = struct.pack("<IQQ", zlib.crc32(data), len(data), 6 + len(raw) + 20)
    return header + raw + trailer


def zstd(data):
    if not shutil.which("zstd"):
        return None
    return subprocess.run(["zstd", "-q", "-c", "-19"], input=data, check=True, capture_output=True).stdout


def zip_archive(entries):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, link in entries:
            info = zipfile.ZipInfo(name, date_time=(2023, 11, 14, 22, 13, 20))
            info.create_system = 3  # unix: the mode is in the high bits
            if link:
                info.external_attr = (0o120777 << 16)
                archive.writestr(info, link)
            elif name.endswith("/"):
                info.external_attr = (0o40755 << 16) | 0x10
                archive.writestr(info, b"")
            else:
                info.external_attr = 0o100644 << 16
                archive.writestr(info, data)
    return out.getvalue()


def main():
    tar_dir, extract_dir = sys.argv[1:3]
    for d in (tar_dir, extract_dir):
        os.makedirs(d, exist_ok=True)
    tars = {
        "ustar": tar(tree(), tarfile.USTAR_FORMAT),
        "gnu-long": tar(tree(long_names=True), tarfile.GNU_FORMAT),
        "pax-long": tar(tree(long_names=True, pax=True), tarfile.PAX_FORMAT),
        "pax-xattr": tar(tree(pax=True), tarfile.PAX_FORMAT),
        "v7": tar([m for m in tree() if m[0].type != tarfile.DIRTYPE], tarfile.GNU_FORMAT),
    }
    hostile = {
        "dotdot": tar([member("../escape", data=b"x")]),
        "absolute": tar([member("/tmp/escape", data=b"x")]),
        "link-out": tar([member("a", tarfile.SYMTYPE, link="../../etc")]),
        "through-link": tar([member("d", tarfile.SYMTYPE, link="."), member("d/f", data=b"x")]),
        "link-chain": tar([
            member("a/", tarfile.DIRTYPE),
            member("a/d", tarfile.SYMTYPE, link=".."),
            member("a/x", tarfile.SYMTYPE, link="d/../.."),
        ]),
        "hardlink-to-link": tar([
            member("a/", tarfile.DIRTYPE),
            member("a/b/", tarfile.DIRTYPE),
            member("a/b/s", tarfile.SYMTYPE, link="../x"),
            member("t", tarfile.LNKTYPE, link="a/b/s"),
        ]),
    }
    for name, data in tars.items():
        open(os.path.join(tar_dir, f"made-{name}.tar"), "wb").write(data)
    for name, data in {**tars, **hostile}.items():
        variants = {
            "tar": data,
            "tar.gz": gzip.compress(data, mtime=0),
            "tar.bz2": bz2.compress(data),
            "tar.xz": lzma.compress(data, format=lzma.FORMAT_XZ),
            "tar.lz": lzip(data),
            "tar.zst": zstd(data),
        }
        for ext, packed in variants.items():
            if packed is not None:
                open(os.path.join(extract_dir, f"made-{name}.{ext}"), "wb").write(packed)
    zips = {
        "tree": [("src/", b"", ""), ("src/README", b"hello\n", ""), ("src/sub/main.c", b"int x;\n", ""),
                 ("src/link", b"", "README")],
        "dotdot": [("../escape", b"x", "")],
        "link-out": [("a", b"", "../../etc")],
    }
    for name, entries in zips.items():
        open(os.path.join(extract_dir, f"made-{name}.zip"), "wb").write(zip_archive(entries))


main()
