# Shared by the tools/ scripts: paths, logging, package installation.
# shellcheck shell=bash

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${VMM_BUILD_DIR:-$TOP/build}

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages the project needs: build, guest kernel, tests.
VMM_PACKAGES=(
	build-essential pkg-config meson ninja-build python3
	liburing-dev libfdt-dev check musl-tools
	clang libclang-rt-14-dev device-tree-compiler
	bc bison flex libelf-dev libssl-dev cpio xz-utils lz4 linux-source-6.12
	socat
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
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null ||
			die "missing packages (${missing[*]}) and not root; run: apt-get install ${missing[*]}"
		sudo=(sudo)
	fi
	step "packages: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! "${sudo[@]}" apt-get install -y -q "${missing[@]}" >&2; then
		step "packages: refreshing the package lists and retrying"
		"${sudo[@]}" apt-get update -q >&2
		"${sudo[@]}" apt-get install -y -q "${missing[@]}" >&2 ||
			die "could not install: ${missing[*]}"
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
