import { useEffect, useRef, useState } from "preact/hooks";
import { getCredential, onAuthChange, signIn, signOut } from "./auth";
import { messageOf } from "./api";
import { completeOidcSignIn, isOidcReturn, leaveOidcReturn } from "./oidc";
import { navigate, useRoute, type Route } from "./router";
import { SignInPage } from "./pages/signin";
import { ProvidersPage } from "./pages/providers";
import { ProviderPage } from "./pages/provider";
import { ApprovalsPage } from "./pages/approvals";
import { AuditPage } from "./pages/audit";

// The shell: header and navigation, the sign-in gate, and the page for the current hash route.

export function App() {
  const route = useRoute();
  const [signedIn, setSignedIn] = useState(() => getCredential() !== null);
  const [oidcPending, setOidcPending] = useState(isOidcReturn);
  const [oidcError, setOidcError] = useState<string | null>(null);

  useEffect(() => onAuthChange(() => setSignedIn(getCredential() !== null)), []);

  useEffect(() => {
    if (!oidcPending) return;
    completeOidcSignIn()
      .then((token) => {
        signIn(token);
        finishReturn("#/providers");
      })
      .catch((error: unknown) => {
        setOidcError(messageOf(error));
        finishReturn("#/signin");
      })
      .finally(() => setOidcPending(false));
  }, []);

  // No credential: every route shows sign-in, and the address says so.
  useEffect(() => {
    if (!signedIn && !oidcPending) navigate("#/signin");
    else if (signedIn && route.page === "signin") navigate("#/providers");
  }, [signedIn, oidcPending, route.page]);

  useFocusOnPageChange(route);

  const page: Route = signedIn ? route : { page: "signin" };
  return (
    <>
      <a class="skip-link" href="#main" onClick={skipToMain}>Skip to content</a>
      <header class="site-header">
        <p class="brand">saas-bridge console</p>
        {signedIn && (
          <nav aria-label="Main">
            <ul>
              <NavLink href="#/providers" current={route.page === "providers" || route.page === "provider"}>Providers</NavLink>
              <NavLink href="#/approvals" current={route.page === "approvals"}>Approvals</NavLink>
              <NavLink href="#/audit" current={route.page === "audit"}>Audit</NavLink>
              <li><button type="button" class="secondary" onClick={() => signOut()}>Sign out</button></li>
            </ul>
          </nav>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        {oidcPending ? <p role="status">Completing sign-in…</p> : <Page route={page} oidcError={oidcError} />}
      </main>
    </>
  );
}

function Page({ route, oidcError }: { route: Route; oidcError: string | null }) {
  switch (route.page) {
    case "signin": return <SignInPage oidcError={oidcError} />;
    case "providers": return <ProvidersPage />;
    case "provider": return <ProviderPage key={route.name} name={route.name} operationId={route.operationId} />;
    case "approvals": return <ApprovalsPage />;
    case "audit": return <AuditPage />;
  }
}

function NavLink({ href, current, children }: { href: string; current: boolean; children: string }) {
  return <li><a href={href} aria-current={current ? "page" : undefined}>{children}</a></li>;
}

/** The skip link must not change the hash: the hash is the route. */
function skipToMain(event: MouseEvent): void {
  event.preventDefault();
  document.getElementById("main")?.focus();
}

/** replaceState does not fire hashchange; the router listens for it. */
function finishReturn(hash: string): void {
  leaveOidcReturn(hash);
  dispatchEvent(new HashChangeEvent("hashchange"));
}

/** After a page change (not the first load) move focus to the new page's heading, as a reload would. */
function useFocusOnPageChange(route: Route): void {
  const first = useRef(true);
  const key = JSON.stringify(route);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.getElementById("page-heading")?.focus();
  }, [key]);
}
