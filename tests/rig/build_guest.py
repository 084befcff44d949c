#!/usr/bin/env python
"""Build the tiny test guest's artifacts into /var/lib/virtops-rig (run as root).

Produces (each rebuilt only when missing or when its inputs changed):
  vmlinuz            Debian's kernel (linux-image-amd64 -> linux-image-6.x), unpacked
                     with dpkg -x: nothing is installed on the host.
  initrd.gz          gzip'ed newc cpio: busybox-static, guest/init as /init, the virtio,
                     ext4 and ACPI-button modules (in dependency order), and the real
                     qemu-ga with the shared libraries ldd lists for it.
  data-base.qcow2    64 MiB qcow2 holding an ext4 filesystem (for fs freeze tests).

The .deb files are kept in ARTIFACTS/debs as a download cache.
"""
import hashlib
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile

ARTIFACTS = os.environ.get("VIRTOPS_RIG_ARTIFACTS", "/var/lib/virtops-rig")
HERE = os.path.dirname(os.path.abspath(__file__))
DEBS = os.path.join(ARTIFACTS, "debs")

# Loaded at boot in this order (their own dependencies are prepended automatically).
# crc32c_generic first: ext4/jbd2 need the "crc32c" crypto algorithm, which is only a
# soft dependency in the modules' metadata.
# pvpanic_mmio: the ISA panic device (<panic model='isa'/>) tells QEMU, and so libvirt, that
# the guest kernel panicked: the way tests produce the "crashed" state.
BASE_MODULES = ["crc32c_generic", "virtio_pci", "virtio_console", "virtio_blk", "ext4",
                "virtio_net", "virtio_balloon", "pvpanic_mmio"]
ACPI_MODULES = ["button", "evdev"]

GUEST_USER = "virtops"


def log(msg):
    print(f"build_guest: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


# ---------------------------------------------------------------- downloads
def apt_download(pkg):
    """Return the path of PKG's .deb in the cache, fetching it with apt-get download."""
    os.makedirs(DEBS, exist_ok=True)
    for name in os.listdir(DEBS):
        if name.startswith(pkg + "_") and name.endswith(".deb"):
            return os.path.join(DEBS, name)
    cmd = ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", pkg]
    if subprocess.run(cmd, cwd=DEBS, stdout=subprocess.DEVNULL, check=False).returncode != 0:
        log("apt-get download failed; refreshing package lists once")
        run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)
        run(cmd, cwd=DEBS, stdout=subprocess.DEVNULL)
    return apt_download(pkg)


def real_kernel_package():
    """linux-image-amd64 is a metapackage: its Depends names the real linux-image-6.x."""
    meta = apt_download("linux-image-amd64")
    depends = subprocess.run(["dpkg-deb", "-f", meta, "Depends"], check=True,
                             capture_output=True, text=True).stdout
    m = re.search(r"(linux-image-[0-9][^\s,(]*)", depends)
    if not m:
        raise SystemExit(f"cannot find the real kernel package in Depends: {depends!r}")
    return apt_download(m.group(1))


def unpack(deb, dest):
    if not os.path.isdir(dest):
        tmp = dest + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        run(["dpkg", "-x", deb, tmp])
        os.rename(tmp, dest)
    return dest


# ---------------------------------------------------------------- kernel modules
def module_index(modroot):
    """Map module name (with '_') -> .ko file path for every module of the kernel."""
    index = {}
    for root, _dirs, files in os.walk(modroot):
        for f in files:
            m = re.match(r"(.+)\.ko(\.xz)?$", f)
            if m:
                index[m.group(1).replace("-", "_")] = os.path.join(root, f)
    return index


def read_ko(path):
    data = open(path, "rb").read()
    return lzma.decompress(data) if path.endswith(".xz") else data


def module_order(index, wanted, done):
    """Topological order of WANTED and their 'depends=' (from .modinfo), minus DONE."""
    order = []

    def visit(name):
        if name in done or name in order:
            return
        if name not in index:
            raise SystemExit(f"kernel module {name} not found (built in?)")
        m = re.search(rb"\x00depends=([^\x00]*)\x00", read_ko(index[name]))
        for dep in (m.group(1).decode().split(",") if m else []):
            if dep:
                visit(dep.replace("-", "_"))
        order.append(name)

    for name in wanted:
        visit(name)
    return order


# ---------------------------------------------------------------- initramfs tree
def write(root, path, text, mode=0o644):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)
    os.chmod(full, mode)


def install_busybox(root):
    # the initramfs has no libc for busybox: it must be busybox-static's binary
    ldd = subprocess.run(["ldd", "/bin/busybox"], capture_output=True, text=True, check=False)
    if "=>" in ldd.stdout:
        raise SystemExit("/bin/busybox is dynamically linked: install busybox-static")
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    shutil.copy2("/bin/busybox", os.path.join(root, "bin/busybox"))
    applets = subprocess.run(["/bin/busybox", "--list-full"], check=True,
                             capture_output=True, text=True).stdout.split()
    for applet in applets:  # e.g. "sbin/poweroff"
        link = os.path.join(root, applet)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.lexists(link):
            os.symlink("/bin/busybox", link)


def install_qemu_ga(root, qga_tree):
    """Copy qemu-ga plus every library ldd resolves for it (and the loader)."""
    binary = os.path.join(qga_tree, "usr/sbin/qemu-ga")
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    if "not found" in out:
        raise SystemExit(f"qemu-ga has unresolved libraries on this host:\n{out}")
    libs = re.findall(r"(/\S+)\s+\(0x", out)  # "libx.so => /lib/.../libx.so (0x..)" and loader
    for lib in libs:
        dest = os.path.join(root, lib.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(lib, dest)  # follows symlinks: the real file under the soname's name
    os.makedirs(os.path.join(root, "usr/sbin"), exist_ok=True)
    shutil.copy2(binary, os.path.join(root, "usr/sbin/qemu-ga"))


def install_etc(root):
    u = GUEST_USER
    write(root, "/etc/passwd", f"root:x:0:0:root:/root:/bin/sh\n"
                               f"{u}:x:1000:1000:virtops test user:/home/{u}:/bin/sh\n")
    write(root, "/etc/shadow", f"root:*:19000:0:99999:7:::\n{u}:*:19000:0:99999:7:::\n",
          0o600)
    write(root, "/etc/group", f"root:x:0:\n{u}:x:1000:\n")
    write(root, "/etc/hostname", "virtops-guest\n")
    write(root, "/etc/hosts", "127.0.0.1 localhost virtops-guest\n")
    write(root, "/etc/os-release",
          'PRETTY_NAME="virtops tiny test guest"\nNAME="virtops-guest"\nID=virtops\n'
          'ID_LIKE=debian\nVERSION_ID="1"\nVERSION="1 (tiny)"\n')
    write(root, "/etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\n")
    for d in ("root", f"home/{u}", "proc", "sys", "dev", "run", "tmp", "mnt/data",
              "var/log", "etc/acpi/PWRF"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chown(os.path.join(root, f"home/{u}"), 1000, 1000)
    # qemu-ga's guest-shutdown runs "/sbin/shutdown -P|-H|-r +0 <msg>" and waits for
    # it: answer at once, then power off (or reboot) a moment later.
    write(root, "/sbin/shutdown",
          '#!/bin/sh\n# minimal shutdown for qemu-ga: -r reboots, anything else powers off\n'
          'action=poweroff\nfor a in "$@"; do [ "$a" = "-r" ] && action=reboot; done\n'
          'echo "virtops-guest: shutdown $* -> $action" >/dev/console\nsync\n'
          '(sleep 1; $action -f) </dev/null >/dev/null 2>&1 &\nexit 0\n', 0o755)
    # busybox acpid maps the power-button key to the action PWRF/00000080 (in /etc/acpi).
    write(root, "/etc/acpi/PWRF/00000080",
          '#!/bin/sh\necho "virtops-guest: ACPI power button -> poweroff" >/dev/console\n'
          'sync\npoweroff -f\n', 0o755)
    # busybox has no chpasswd; qemu-ga's guest-set-user-password pipes "user:pw" into it
    # ("-e": the password is already crypted).
    write(root, "/usr/sbin/chpasswd",
          '#!/bin/sh\ncrypted=0\n[ "$1" = "-e" ] && crypted=1\n'
          'while IFS=: read -r user pw; do\n'
          '  [ -n "$user" ] || continue\n'
          '  grep -q "^$user:" /etc/shadow || { echo "chpasswd: no user $user" >&2; exit 1; }\n'
          '  if [ $crypted = 1 ]; then hash=$pw; else hash=$(mkpasswd -m sha512 "$pw"); fi\n'
          '  sed -i "s|^$user:[^:]*:|$user:$hash:|" /etc/shadow\n'
          'done\n', 0o755)


def build_initrd(kernel_tree, qga_tree, out):
    modroot = os.path.join(kernel_tree, "lib/modules")
    index = module_index(modroot)
    base = module_order(index, BASE_MODULES, set())
    acpi = module_order(index, ACPI_MODULES, set(base))
    with tempfile.TemporaryDirectory(dir=ARTIFACTS) as root:
        install_busybox(root)
        install_qemu_ga(root, qga_tree)
        install_etc(root)
        os.makedirs(os.path.join(root, "lib/modules"), exist_ok=True)
        for name in base + acpi:
            with open(os.path.join(root, "lib/modules", name + ".ko"), "wb") as f:
                f.write(read_ko(index[name]))
        write(root, "/etc/virtops/modules.base", "\n".join(base) + "\n")
        write(root, "/etc/virtops/modules.acpi", "\n".join(acpi) + "\n")
        shutil.copy2(os.path.join(HERE, "guest/init"), os.path.join(root, "init"))
        os.chmod(os.path.join(root, "init"), 0o755)
        tmp = out + ".tmp"
        run(f"find . -print0 | cpio --null -o -H newc --quiet | gzip -6 > '{tmp}'",
            shell=True, cwd=root)
        os.chmod(tmp, 0o644)
        os.rename(tmp, out)
    log(f"initrd: modules {' '.join(base)} | acpi: {' '.join(acpi)}")


# ---------------------------------------------------------------- data disk
def build_data_base(out):
    with tempfile.TemporaryDirectory(dir=ARTIFACTS) as tmp:
        content = os.path.join(tmp, "content")
        os.makedirs(content)
        write(content, "README", "virtops rig data disk (ext4)\n")
        raw = os.path.join(tmp, "data.raw")
        with open(raw, "wb") as f:
            f.truncate(64 * 1024 * 1024)
        run(["mkfs.ext4", "-q", "-F", "-L", "virtops-data", "-d", content, raw])
        run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, out + ".tmp"])
        os.chmod(out + ".tmp", 0o644)
        os.rename(out + ".tmp", out)


# ---------------------------------------------------------------- main
def inputs_digest():
    """Rebuild the initrd when this builder or the guest's /init changed."""
    h = hashlib.sha256()
    for p in (os.path.abspath(__file__), os.path.join(HERE, "guest/init")):
        h.update(open(p, "rb").read())
    return h.hexdigest()


def main():
    os.makedirs(ARTIFACTS, exist_ok=True)
    os.chmod(ARTIFACTS, 0o755)
    work = os.path.join(ARTIFACTS, "work")
    os.makedirs(work, exist_ok=True)
    vmlinuz = os.path.join(ARTIFACTS, "vmlinuz")
    initrd = os.path.join(ARTIFACTS, "initrd.gz")
    stamp = os.path.join(ARTIFACTS, "initrd.inputs")
    digest = inputs_digest()
    stale = not os.path.exists(stamp) or open(stamp).read().strip() != digest
    if not os.path.exists(vmlinuz) or not os.path.exists(initrd) or stale:
        kernel_tree = unpack(real_kernel_package(), os.path.join(work, "kernel"))
        qga_tree = unpack(apt_download("qemu-guest-agent"), os.path.join(work, "qga"))
        (image,) = [f for f in os.listdir(os.path.join(kernel_tree, "boot"))
                    if f.startswith("vmlinuz-")]
        shutil.copy(os.path.join(kernel_tree, "boot", image), vmlinuz + ".tmp")
        os.chmod(vmlinuz + ".tmp", 0o644)
        os.rename(vmlinuz + ".tmp", vmlinuz)
        build_initrd(kernel_tree, qga_tree, initrd)
        with open(stamp, "w") as f:
            f.write(digest + "\n")
        shutil.rmtree(work)  # ~400 MB unpacked; the .debs stay as the download cache
        log(f"built {vmlinuz} and {initrd}")
    data = os.path.join(ARTIFACTS, "data-base.qcow2")
    if not os.path.exists(data):
        build_data_base(data)
        log(f"built {data}")


if __name__ == "__main__":
    main()
