import * as pulumi from "@pulumi/pulumi";
import { providerStackProgram } from "./provider-stack.js";
import type { ProviderStackArgs } from "./types.js";

/**
 * Entry point for the plain CLI (`pulumi preview -s <provider>`), so that engineers can run the same
 * program by hand. The args are the service's resolved ProviderStackArgs, stored as the stack config
 * object `saas-bridge:args`; the Automation API path does not use this file.
 */
const args = new pulumi.Config("saas-bridge").requireObject<ProviderStackArgs>("args");

export default providerStackProgram(args);
