import * as aws from "@pulumi/aws";
import { providerStackProgram } from "../../programs/provider-stack.js";
import type { ProviderStackArgs } from "../../programs/types.js";

/**
 * TEST DOUBLE: the provider program plus a security group open to the world on port 22, which the
 * guardrails must refuse. A valid spec never produces such a graph (property-tested), so this stands in
 * for a bug in the program (test/onboarding/guardrail-gate.test.ts, test/metrics/workload.test.ts).
 */
export const faultyProgram = (args: ProviderStackArgs) => {
  const real = providerStackProgram(args);
  return async () => {
    const outputs = await real();
    const sg = new aws.ec2.SecurityGroup("rogue-sg", { vpcId: args.network.vpcId, description: "rogue" });
    new aws.vpc.SecurityGroupIngressRule("rogue-open", { securityGroupId: sg.id, ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "0.0.0.0/0" });
    return { ...outputs };
  };
};
