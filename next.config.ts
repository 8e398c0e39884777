import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // Tests build into their own folder so that `npm run dev` and `npm test` never share one.
  distDir: process.env.NEXT_DIST_DIR || ".next",
  // Packages that need real Node (file system, wasm, native req/res) stay out of the bundle.
  serverExternalPackages: ["@electric-sql/pglite", "pg", "oidc-provider", "nodemailer"],
  poweredByHeader: false,
  // Types are checked once by `npm test` (scripts/test.mjs runs `tsc --noEmit`), not again inside
  // every build.
  typescript: { ignoreBuildErrors: true },
  reactStrictMode: true,
  // The migrations are read from disk at start-up, and a new PGlite store is created by a script
  // run as a child process: make sure a traced build carries both.
  outputFileTracingIncludes: { "/**": ["./lib/store/migrations/*.sql", "./lib/store/pglite-init.mjs"] },
  // Browsers ask for /favicon.ico whatever the page links: answer with the one picture there is.
  async rewrites() {
    return [{ source: "/favicon.ico", destination: "/favicon.svg" }];
  },
  async headers() {
    return [
      {
        source: "/:path*",
        headers: [
          { key: "X-Content-Type-Options", value: "nosniff" },
          { key: "Referrer-Policy", value: "no-referrer" },
          { key: "X-Frame-Options", value: "DENY" },
        ],
      },
    ];
  },
};

export default nextConfig;
