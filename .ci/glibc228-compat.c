/*
 * Linked into the supraseal build by .ci/cuda-build, beside g++'s libstdc++.a.
 *
 * That archive (GCC 12, built on Debian's glibc 2.36) uses two things of
 * glibc's that glibc 2.28 does not have, so the wheel, tagged manylinux_2_28,
 * would fail to load on an older glibc ("undefined symbol"). Both are defined
 * here, hidden (they bind inside the module and interpose nothing):
 *
 * - __libc_single_threaded (glibc 2.32): libstdc++ skips atomic reference
 *   counts while it is non-zero. 0, "other threads may exist", is always
 *   correct, merely never the shortcut.
 * - arc4random (glibc 2.36): std::random_device's default source, here from
 *   getentropy (glibc 2.25), as glibc's own does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;

__attribute__((visibility("hidden"))) uint32_t arc4random(void) {
    uint32_t value;
    if (getentropy(&value, sizeof value) != 0) {
        abort();
    }
    return value;
}
