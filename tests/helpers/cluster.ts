import { startApp, type AppServer } from "./app-server";
import { rememberInvestorPassword, TEST_INVESTOR_PASSWORD } from "./investor-session";
import { startLoadBalancer, type LoadBalancer } from "./load-balancer";
import { startTestPostgres, type TestPostgres } from "./postgres";

/**
 * Several instances of the built app on one throwaway PostgreSQL, behind one public URL (a
 * loopback load balancer): PUBLIC_URL names the balancer, so every instance has the same issuer
 * and resource URL; each instance's agent reaches its own /oidc and /mcp (AGENT_INTERNAL_URL).
 */
export interface Health {
  status: string;
  instance: { id: string; leadsTicker: boolean; agents: Array<{ investor: string; agent: string }> };
}

export interface Cluster {
  pg: TestPostgres;
  lb: LoadBalancer;
  apps: AppServer[];
  /** An instance's /api/health, or undefined when it does not answer. */
  health(app: AppServer): Promise<Health | undefined>;
  close(): Promise<void>;
}

export async function startCluster(size: number, env: Record<string, string> = {}): Promise<Cluster> {
  const pg = await startTestPostgres();
  const lb = await startLoadBalancer();
  const apps: AppServer[] = [];
  const close = async () => {
    await Promise.all(apps.map((a) => a.stop()));
    await lb.close();
    await pg.stop();
  };
  try {
    const started = await Promise.allSettled(
      Array.from({ length: size }, (_, i) =>
        startApp(
          { DATABASE_URL: pg.url, PUBLIC_URL: lb.url, INSTANCE_ID: `app-${i + 1}`, ...env },
          { envForOwnUrl: (url) => ({ AGENT_INTERNAL_URL: url }) },
        ),
      ),
    );
    for (const s of started) if (s.status === "fulfilled") apps.push(s.value);
    const failed = started.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    lb.targets = apps.map((a) => a.url);
    // Alice signs in at the public URL too (the balancer), with the instances' password.
    rememberInvestorPassword(lb.url, env.INVESTOR_PASSWORD ?? TEST_INVESTOR_PASSWORD);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    pg,
    lb,
    apps,
    async health(app) {
      try {
        const res = await fetch(`${app.url}/api/health`, { signal: AbortSignal.timeout(2000) });
        return res.ok ? ((await res.json()) as Health) : undefined;
      } catch {
        return undefined;
      }
    },
    close,
  };
}
