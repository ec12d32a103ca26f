/**
 * Version of the provider-stack program, recorded with every operation next to the spec hash.
 *
 * Bump rule: change it whenever the program's resource graph changes for the same args (a resource,
 * child name, type, provider or input mapping added, removed or renamed), so that an operation's
 * result can be traced to the program that produced it and the service can tell "spec changed" from
 * "program changed". Pure refactors that leave every registration identical do not bump it.
 */
export const PROGRAM_VERSION = "provider-stack@2";

/** Version of the network-hub program (same bump rule). */
export const HUB_PROGRAM_VERSION = "network-hub@1";
