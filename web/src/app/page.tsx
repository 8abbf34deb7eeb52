import { redirect } from "next/navigation";

/** The dashboard opens on the sandbox list (which sends visitors without a session to sign in). */
export default function Home(): never {
  redirect("/sandboxes");
}
