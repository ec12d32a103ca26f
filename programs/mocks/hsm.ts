import { arn, type Context, type MockArea } from "./context.js";

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/** CloudHSM ids look like `cluster-[2-7a-zA-Z]{11,16}` / `hsm-…` (CloudHSM API reference). */
function base32(c: Context, length: number, salt: string): string {
  const hex = c.hex(length * 2, salt);
  return Array.from({ length }, (_, i) => BASE32.charAt(parseInt(hex.slice(i * 2, i * 2 + 2), 16) % 32)).join("");
}

/**
 * The CloudHSM key store's VPC, its default security group, the cluster, its HSMs and the KMS
 * custom key store. A mock sees one resource at a time, so attributes that AWS derives from *other*
 * resources (the cluster's `vpcId`, an HSM's `ipAddress`) are deterministic but not linked to them:
 * nothing in the programs may depend on those (the component exports the VPC's own id).
 */
export const hsm: MockArea = {
  // ForceNew properties read from hashicorp/terraform-provider-aws (vpc.go, cloudhsmv2/cluster.go,
  // cloudhsmv2/hsm.go, kms/custom_key_store.go); the VPC list omits IPv6/IPAM-only arguments.
  replaceOn: {
    "aws:ec2/vpc:Vpc": ["cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength"],
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ["vpcId"],
    "aws:cloudhsmv2/cluster:Cluster": ["hsmType", "mode", "subnetIds", "sourceBackupIdentifier"],
    "aws:cloudhsmv2/hsm:Hsm": ["clusterId", "subnetId", "availabilityZone", "ipAddress"],
    "aws:kms/customKeyStore:CustomKeyStore": ["customKeyStoreType", "cloudHsmClusterId", "trustAnchorCertificate"],
  },
  computed: {
    "aws:ec2/vpc:Vpc": (c) => {
      const id = `vpc-${c.hex(17)}`;
      const mainRouteTableId = `rtb-${c.hex(17, "rtb")}`;
      return {
        id,
        state: {
          arn: arn(c, "ec2", `vpc/${id}`),
          ownerId: c.accountId,
          defaultNetworkAclId: `acl-${c.hex(17, "acl")}`,
          mainRouteTableId,
          defaultRouteTableId: mainRouteTableId,
          defaultSecurityGroupId: `sg-${c.hex(17, "sg")}`,
          dhcpOptionsId: `dopt-${c.hex(17, "dopt")}`,
          instanceTenancy: c.inputs["instanceTenancy"] ?? "default",
        },
      };
    },
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": (c) => {
      const id = `sg-${c.hex(17)}`;
      return { id, state: { arn: arn(c, "ec2", `security-group/${id}`), ownerId: c.accountId, name: "default" } };
    },
    // Created clusters wait for UNINITIALIZED (TF waitClusterUninitialized); the CSR is only
    // returned in that state.
    "aws:cloudhsmv2/cluster:Cluster": (c) => {
      const clusterId = `cluster-${base32(c, 11, "id")}`;
      const body = Buffer.from(c.hex(96, "csr"), "hex").toString("base64");
      return {
        id: clusterId,
        state: {
          clusterId,
          clusterState: "UNINITIALIZED",
          clusterCertificates: [{ clusterCsr: `-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n` }],
          securityGroupId: `sg-${c.hex(17, "sg")}`,
          vpcId: `vpc-${c.hex(17, "vpc")}`,
          mode: c.inputs["mode"] ?? "FIPS",
        },
      };
    },
    // Created HSMs wait for ACTIVE (TF waitHSMCreated).
    "aws:cloudhsmv2/hsm:Hsm": (c) => {
      const hsmId = `hsm-${base32(c, 11, "id")}`;
      const [a = 0, b = 0] = [...Buffer.from(c.hex(4, "ip"), "hex")];
      return {
        id: hsmId,
        state: {
          hsmId,
          hsmEniId: `eni-${c.hex(17, "eni")}`,
          ipAddress: c.inputs["ipAddress"] ?? `10.${a}.${b}.${4 + (a % 200)}`,
          hsmState: "ACTIVE",
        },
      };
    },
    "aws:kms/customKeyStore:CustomKeyStore": (c) => ({
      id: `cks-${c.hex(17)}`,
      state: { customKeyStoreType: c.inputs["customKeyStoreType"] ?? "AWS_CLOUDHSM" },
    }),
  },
};
