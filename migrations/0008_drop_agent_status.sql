DROP TABLE "containers" CASCADE;--> statement-breakpoint
DROP TABLE "cron_jobs" CASCADE;--> statement-breakpoint
DROP TABLE "conversations" CASCADE;--> statement-breakpoint
DROP TABLE "messages" CASCADE;--> statement-breakpoint
ALTER TABLE "agents" DROP COLUMN "status";--> statement-breakpoint
ALTER TABLE "agents" DROP COLUMN "status_reason";