"use client";
export default function Dashboard() {
  return <main data-testid="dashboard">Sleeping Guardian</main>;
}
