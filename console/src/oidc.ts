import type { ConsoleConfig } from "./types";

// OIDC sign-in: authorization code flow with PKCE (RFC 7636, S256). The verifier and state wait in
// sessionStorage for the redirect back; the access token becomes the bearer credential.

type OidcSettings = NonNullable<ConsoleConfig["oidc"]>;

const PENDING_KEY = "saas-bridge.oidc";

interface Pending {
  state: string;
  verifier: string;
  tokenEndpoint: string;
  clientId: string;
}

interface Discovery {
  issuer?: string;
  authorization_endpoint: string;
  token_endpoint: string;
}

export function redirectUri(): string {
  return `${location.origin}/console/`;
}

/** Start the flow: discovery, a fresh verifier and state, then leave for the identity provider. */
export async function beginOidcSignIn(oidc: OidcSettings): Promise<void> {
  const issuer = oidc.issuer.replace(/\/+$/, "");
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`The identity provider's discovery document could not be read (${response.status}).`);
  const discovery = (await response.json()) as Discovery;
  // OIDC Discovery §4.3: the document must name the issuer it was fetched for (no mix-up with another one).
  if (discovery.issuer?.replace(/\/+$/, "") !== issuer) throw new Error("The identity provider's discovery document names another issuer; sign-in stopped.");
  // The console's CSP lets it call the issuer's origin only: a token endpoint elsewhere would be refused later, less clearly.
  if (new URL(discovery.token_endpoint).origin !== new URL(issuer).origin) {
    throw new Error("The identity provider's token endpoint is not on the issuer's origin, which the console's security policy does not allow.");
  }

  const verifier = randomString(64);
  const state = randomString(32);
  const pending: Pending = { state, verifier, tokenEndpoint: discovery.token_endpoint, clientId: oidc.clientId };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));

  const url = new URL(discovery.authorization_endpoint);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", oidc.clientId);
  url.searchParams.set("redirect_uri", redirectUri());
  url.searchParams.set("scope", oidc.scope);
  url.searchParams.set("state", state);
  url.searchParams.set("code_challenge", await challengeOf(verifier));
  url.searchParams.set("code_challenge_method", "S256");
  location.assign(url.toString());
}

/** True when the page was loaded by the identity provider's redirect back. */
export function isOidcReturn(): boolean {
  const params = new URLSearchParams(location.search);
  return params.has("code") || params.has("error");
}

/** Finish the flow: check state, exchange the code; resolves to the access token. */
export async function completeOidcSignIn(): Promise<string> {
  const params = new URLSearchParams(location.search);
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);

  const error = params.get("error");
  if (error) throw new Error(`The identity provider refused the sign-in: ${params.get("error_description") ?? error}.`);
  const pending = raw ? (JSON.parse(raw) as Pending) : null;
  // The state proves this redirect answers a sign-in started in this tab (no login CSRF).
  if (!pending || params.get("state") !== pending.state) throw new Error("The sign-in could not be completed: its state did not match. Try again.");

  const body = new URLSearchParams({
    grant_type: "authorization_code",
    code: params.get("code") ?? "",
    redirect_uri: redirectUri(),
    client_id: pending.clientId,
    code_verifier: pending.verifier,
  });
  const response = await fetch(pending.tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
    body,
  });
  const token = response.ok ? ((await response.json()) as { access_token?: string }).access_token : undefined;
  if (!token) throw new Error(`The identity provider did not issue a token (${response.status}). Try again.`);
  return token;
}

/** Drop ?code=…&state=… from the address bar so a reload or a shared link never carries them. */
export function leaveOidcReturn(hash: string): void {
  history.replaceState(null, "", `/console/${hash}`);
}

function randomString(bytes: number): string {
  return base64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64Url(new Uint8Array(digest));
}

function base64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
