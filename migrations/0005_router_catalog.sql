CREATE TABLE "model_catalogs" (
	"version" integer PRIMARY KEY NOT NULL,
	"doc" jsonb NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "usage_records" ADD COLUMN "price_version" integer;