/** Types of test-build.mjs: the one build the over-HTTP tests run against. */
export declare const TEST_DIST_DIR: string;
export declare function resetBuild(): void;
export declare function startBuild(): void;
export declare function waitForBuild(): Promise<void>;
export declare function buildSync(): void;
