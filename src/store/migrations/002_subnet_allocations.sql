-- Subnet allocations: each provider's subnets in the central SaaS VPC of a region, one per AZ id,
-- carved from the landing zone's pool for that region (DESIGN §7).
CREATE TABLE subnet_allocations (
  provider      text NOT NULL,
  region        text NOT NULL,
  az_id         text NOT NULL,
  -- IPv4 only, and a size AWS accepts for a subnet (/16 to /28, VPC user guide "Subnet CIDR blocks").
  cidr          cidr NOT NULL CHECK (family(cidr) = 4 AND masklen(cidr) BETWEEN 16 AND 28),
  allocated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, region, az_id),
  -- The database, not only the allocator, guarantees that no two subnets overlap: under concurrency,
  -- across replicas, and across regions (the landing zone is routed, so a range is never reused).
  -- The GiST index behind it also serves the allocator's `cidr && pool` read.
  CONSTRAINT subnet_allocations_no_overlap EXCLUDE USING gist (cidr inet_ops WITH &&)
);
