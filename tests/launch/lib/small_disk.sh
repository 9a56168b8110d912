# Sourced by tests that fill a real disk (train_disk_full.sh, train_faults.sh): a small tmpfs in the scratch
# directory. Mounting needs root (CAP_SYS_ADMIN); where it is not permitted the caller skips, saying why.
#   mount_small_disk DIR SIZE   mounts a tmpfs of SIZE (e.g. 2m) at DIR, unmounted by the EXIT trap; returns 1 with
#                               the reason in $small_disk_error when it cannot
#   fill_disk DIR               fills it: DIR/filler grows until "No space left on device"
mount_small_disk() {
  mkdir -p "$1"
  small_disk_error=$(mount -t tmpfs -o size="$2" tmpfs "$1" 2>&1) || return 1
  trap "umount '$1' || umount -l '$1'" EXIT  # lazily when a killed job's straggler still holds a file
}

fill_disk() {
  dd if=/dev/zero of="$1/filler" bs=64k 2>/dev/null
  df -k "$1" | tail -n 1
}
