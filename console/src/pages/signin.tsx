import { useEffect, useState } from "preact/hooks";
import { api, isStatus, messageOf } from "../api";
import { signIn, takeNotice } from "../auth";
import { beginOidcSignIn } from "../oidc";
import { markReady } from "../ready";
import type { ConsoleConfig } from "../types";
import { Alert, PageHeading, Status, usePageTitle } from "../ui";

export function SignInPage({ oidcError }: { oidcError: string | null }) {
  usePageTitle("Sign in");
  const [config, setConfig] = useState<ConsoleConfig | null>(null);
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(() => takeNotice() ?? oidcError);

  useEffect(() => {
    fetch("/console/config.json", { cache: "no-store" })
      .then((r) => (r.ok ? (r.json() as Promise<ConsoleConfig>) : { oidc: null }))
      .catch(() => ({ oidc: null }))
      .then((c) => setConfig(c));
  }, []);
  useEffect(() => {
    if (config) markReady();
  }, [config]);
  // The OIDC return may fail after this page is already shown.
  useEffect(() => {
    if (oidcError) setError(oidcError);
  }, [oidcError]);

  async function submitKey(event: Event) {
    event.preventDefault();
    const credential = key.trim();
    if (!credential) {
      setError("Enter an API key.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api("/v1/providers?limit=1", { credential });
      signIn(credential);
    } catch (e) {
      // 403: the key is valid but its role cannot list providers (an auditor): it may still sign in.
      if (isStatus(e, 403)) signIn(credential);
      else setError(isStatus(e, 401) ? "That API key was refused." : messageOf(e));
    } finally {
      setBusy(false);
    }
  }

  async function startOidc() {
    if (!config?.oidc) return;
    setError(null);
    setBusy(true);
    try {
      await beginOidcSignIn(config.oidc);
    } catch (e) {
      setError(messageOf(e));
      setBusy(false);
    }
  }

  return (
    <section class="signin">
      <PageHeading>Sign in</PageHeading>
      <Alert message={error} />
      <form onSubmit={submitKey} class="stack">
        <label for="api-key">API key</label>
        <input id="api-key" name="api-key" type="password" autocomplete="off" spellcheck={false}
          value={key} onInput={(e) => setKey(e.currentTarget.value)} />
        <button type="submit" disabled={busy}>Sign in with API key</button>
      </form>
      {config?.oidc && (
        <div class="oidc">
          <p>Or sign in with your organisation's identity provider.</p>
          <button type="button" disabled={busy} onClick={startOidc}>Sign in with OIDC</button>
        </div>
      )}
      <Status>{busy ? "Signing in…" : ""}</Status>
    </section>
  );
}
