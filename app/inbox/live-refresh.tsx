"use client";

import { useRouter } from "next/navigation";
import { useEffect } from "react";

/** Re-renders the mailbox when a mail lands (the `mail` event on /api/events). */
export default function LiveRefresh() {
  const router = useRouter();
  useEffect(() => {
    const events = new EventSource("/api/events");
    const refresh = () => router.refresh();
    events.addEventListener("mail", refresh);
    return () => {
      events.removeEventListener("mail", refresh);
      events.close();
    };
  }, [router]);
  return null;
}
