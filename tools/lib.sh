# Shared by the tools/ scripts: paths, logging, package installation.
# shellcheck shell=bash

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${VMM_BUILD_DIR:-$TOP/build}

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages the project needs: build, guest kernel, tests.
VMM_PACKAGES=(
	build-essential pkg-config meson ninja-build python3
	liburing-dev libfdt-dev libseccomp-dev check musl-tools
	clang libclang-rt-14-dev device-tree-compiler
	bc bison flex libelf-dev libssl-dev cpio xz-utils lz4 linux-source-6.12
	socat acpica-tools tshark
	qemu-system-x86 busybox-static kmod
)

# Install whatever of VMM_PACKAGES (plus "$@") is missing.
ensure_packages() {
	local missing=() p
	for p in "${VMM_PACKAGES[@]}" "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed"; then
			missing+=("$p")
		fi
	done
	if [ ${#missing[@]} -eq 0 ]; then
		step "packages: all present"
		return
	fi
	if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
		die "missing packages (${missing[*]}) and not root; run: apt-get install ${missing[*]}"
	fi
	step "packages: installing ${missing[*]}"
	if ! apt_get install -y -q "${missing[@]}" >&2; then
		step "packages: refreshing the package lists and retrying"
		apt_get update -q >&2
		apt_get install -y -q "${missing[@]}" >&2 ||
			die "could not install: ${missing[*]}"
	fi
}

# apt-get as root (through sudo when we are not).
apt_get() {
	if [ "$(id -u)" -ne 0 ]; then
		sudo DEBIAN_FRONTEND=noninteractive apt-get "$@"
	else
		DEBIAN_FRONTEND=noninteractive apt-get "$@"
	fi
}

# Configure (once) and build a meson tree: build_tree DIR [meson options...]
build_tree() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		step "meson: configuring $dir"
		local werror=()
		[ -n "${CI:-}" ] && werror=(--werror)
		meson setup "${werror[@]}" "$@" "$dir" "$TOP" >&2 ||
			die "meson setup failed for $dir"
	fi
	step "ninja: building $dir"
	ninja -C "$dir" >&2 || die "build failed in $dir"
}

# True if /dev/kvm exists and opens for reading and writing.
kvm_usable() {
	[ -c /dev/kvm ] && { : <>/dev/kvm; } 2>/dev/null
}

# Path of the bundled guest kernel directory (builds it on first use).
guest_kernel_dir() {
	"$TOP/guest/build-kernel"
}

# The bundled kernel image to boot: the bzImage, except on kvm_pvm hosts,
# where its decompressor would run in the host's slow instruction emulator
# (about 16 s more per boot there); the ELF vmlinux skips it.
# VMM_KERNEL_FORMAT=bzImage|vmlinux overrides the choice.
bundled_kernel_name() {
	if [ -n "${VMM_KERNEL_FORMAT:-}" ]; then
		echo "$VMM_KERNEL_FORMAT"
	elif [ -d /sys/module/kvm_pvm ]; then
		echo vmlinux
	else
		echo bzImage
	fi
}

VMM_CACHE=${VMM_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/vmm}

# The package of Debian's stock kernel (linux-image-amd64 depends on it).
stock_kernel_package() {
	local pkg
	depends() {
		apt-cache depends linux-image-amd64 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' |
			head -n 1
	}
	pkg=$(depends)
	if [ -z "$pkg" ]; then
		step "packages: refreshing the package lists"
		apt_get update -q >&2
		pkg=$(depends)
	fi
	[ -n "$pkg" ] || die "cannot find Debian's linux-image-amd64 kernel package"
	echo "$pkg"
}

# Debian's stock kernel, downloaded and unpacked (never installed), cached:
# prints the directory holding its boot/ and lib/modules/.
stock_kernel_dir() {
	local pkg ver dir tmp
	pkg=$(stock_kernel_package)
	ver=$(apt-cache show --no-all-versions "$pkg" | sed -n 's/^Version: //p' | head -n 1)
	dir=$VMM_CACHE/debian-$pkg-$ver
	if [ ! -f "$dir/.complete" ]; then
		step "stock kernel: downloading $pkg $ver"
		mkdir -p "$VMM_CACHE"
		tmp=$(mktemp -d "$VMM_CACHE/.debian-kernel.XXXXXX")
		(cd "$tmp" && apt-get download -q "$pkg=$ver" >&2 2>/dev/null) ||
			(cd "$tmp" && apt-get download -q "$pkg" >&2) ||
			{ rm -rf "$tmp"; die "cannot download $pkg from Debian's archive"; }
		dpkg-deb -x "$tmp"/*.deb "$tmp/root" ||
			{ rm -rf "$tmp"; die "cannot unpack $pkg"; }
		rm -f "$tmp"/*.deb
		touch "$tmp/root/.complete"
		rm -rf "$dir"
		mv -T "$tmp/root" "$dir"
		rmdir "$tmp"
	fi
	echo "$dir"
}

# The modules NAME... of a stock kernel tree and all they depend on, as
# paths, each after its dependencies (the order insmod needs).
modules_in_order() {
	local root=$1 n
	shift
	local -A seen=()
	local order=()
	visit() {
		local name=${1//-/_} f d
		[ -n "${seen[$name]:-}" ] && return 0
		seen[$name]=1
		f=$(find "$root"/lib/modules/*/kernel \( -name "$name.ko" -o \
			-name "${name//_/-}.ko" \) -print -quit)
		[ -n "$f" ] || die "module $1 is not in $root"
		for d in $(PATH=$PATH:/usr/sbin:/sbin modinfo -F depends "$f" | tr , ' '); do
			visit "$d"
		done
		order+=("$f")
	}
	for n in "$@"; do visit "$n"; done
	printf '%s\n' "${order[@]}"
}

# The nested bed's L1: Debian's stock kernel and an initramfs of busybox,
# the modules it needs and tools/nested-init. Built once, cached by kernel
# package and by this recipe; prints the directory.
NESTED_MODULES=(virtio_pci 9pnet_virtio 9p kvm-amd vhost_vsock)
nested_bed() {
	local kdir key dir tmp f i=0
	ensure_packages
	kdir=$(stock_kernel_dir)
	key=$( {
		echo "$kdir ${NESTED_MODULES[*]}"
		cat "$TOP/tools/nested-init"
		declare -f modules_in_order nested_bed
	} | sha256sum | cut -c1-16)
	dir=$VMM_CACHE/nested-$key
	if [ ! -f "$dir/initramfs.cpio" ]; then
		step "nested bed: building L1 in $dir"
		tmp=$(mktemp -d "$VMM_CACHE/.nested.XXXXXX")
		mkdir -p "$tmp/root/bin" "$tmp/root/modules"
		cp /bin/busybox "$tmp/root/bin/busybox"
		install -m 755 "$TOP/tools/nested-init" "$tmp/root/init"
		while IFS= read -r f; do
			i=$((i + 1))
			cp "$f" "$tmp/root/modules/$i.ko"
			# its load order and its name, which parameters use
			echo "$i $(basename "$f" .ko | tr - _)" \
				>>"$tmp/root/modules/order"
		done < <(modules_in_order "$kdir" "${NESTED_MODULES[@]}")
		(cd "$tmp/root" && find . | cpio -o -H newc --quiet) >"$tmp/initramfs.cpio" ||
			die "cannot pack the bed's initramfs"
		cp "$kdir"/boot/vmlinuz-* "$tmp/vmlinuz"
		rm -rf "$tmp/root" "$dir"
		mv -T "$tmp" "$dir"
	fi
	echo "$dir"
}
