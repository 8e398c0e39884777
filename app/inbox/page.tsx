import type { Metadata } from "next";
import { listMail } from "@/lib/idp/mailbox";
import { getRuntime } from "@/lib/runtime";
import { investorOrSignIn } from "@/lib/session/page-guard";
import { MailboxView } from "./mailbox-view";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Mailbox · Sleeping Guardian" };

/** /inbox — the embedded mailbox: the notification emails the embedded identity server sent the signed-in investor. */
export default async function InboxPage() {
  const rt = await getRuntime();
  const { investor } = await investorOrSignIn(rt.signIn, "/inbox");
  return <MailboxView owner={investor.email} mails={await listMail(rt.db, 100, investor.email)} />;
}
