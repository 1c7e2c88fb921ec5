/*
 * dkgen runtime: the link-time names of the kernels.
 *
 * `dkgen generate` replaces this file in each library it writes with one that renames
 * every kernel of the library's runtime copy to <name>_dkgen_..., so that any number of
 * dkgen libraries (float32 and int8, from different dkgen versions) link into one
 * firmware, each calling its own kernels. Here, for the runtime's own tests and for
 * building the kernels alone, the names stay as written.
 */
#ifndef DKGEN_NAMESPACE_H
#define DKGEN_NAMESPACE_H
#endif /* DKGEN_NAMESPACE_H */
