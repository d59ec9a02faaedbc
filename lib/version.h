/* Version order, the one comparison of the tree: Vault and OpenBao numbers
 * ("1.21.2", "v2.6.2", "1.17.0+ent", "1.21.0-beta1") by Semantic Versioning
 * 2.0's precedence. */
#ifndef VH_VERSION_H
#define VH_VERSION_H

/* -1, 0 or 1 as a is older than, as old as, or newer than b; -2 when either
 * is not a version (a tag like "latest", "1.21", NULL).
 *
 * As semver 2.0 (section 11): MAJOR.MINOR.PATCH compared numerically; a
 * pre-release comes before its release (1.21.0-rc1 < 1.21.0); pre-release
 * identifiers (split at '.') compare numerically when both are numbers, a
 * number before a word, and a longer list after its prefix; build metadata
 * (+ent) is ignored. One step further than semver, as Vault's own tags need
 * it: a word compares its runs of digits as numbers (beta2 < beta10, where
 * plain semver would compare "beta10" and "beta2" as text). Numbers of any
 * length compare without overflow. A leading 'v' is allowed. */
int version_compare(const char *a, const char *b);

#endif
