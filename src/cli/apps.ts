/**
 * Every app this build ships, in the order they start. Adding an app: write it on the App
 * contract (src/core/app.ts, docs/APPS.md) and list it here; nothing else in the CLI changes.
 */
import type { App } from '../core/index.ts';
import { placeApp } from '../apps/place/index.ts';
import { trackerApp } from '../apps/tracker/index.ts';
import { inboxApp } from '../apps/inbox/index.ts';
import { jobsApp } from '../apps/jobs/index.ts';
import { choirApp } from '../apps/choir/index.ts';

export const allApps: readonly App<any>[] = [placeApp, trackerApp, inboxApp, jobsApp, choirApp];
