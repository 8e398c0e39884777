import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { getMail, listMail, MAIL_ID_PATTERN, markMailRead } from "@/lib/idp/mailbox";
import { getRuntime } from "@/lib/runtime";
import { investorOrSignIn } from "@/lib/session/page-guard";
import { MailboxView } from "../mailbox-view";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Mailbox · Sleeping Guardian" };

/** /inbox/{id} — one of her messages open (another's is not found); opening it marks it read, as a mail client does. */
export default async function MailPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const rt = await getRuntime();
  const { investor } = await investorOrSignIn(rt.signIn, MAIL_ID_PATTERN.test(id) ? `/inbox/${id}` : "/inbox");
  const mail = MAIL_ID_PATTERN.test(id) ? await getMail(rt.db, id, investor.email) : undefined;
  if (!mail) notFound();
  await markMailRead(rt.db, id, investor.email);
  return <MailboxView owner={investor.email} mails={await listMail(rt.db, 100, investor.email)} open={{ ...mail, read: true }} />;
}
