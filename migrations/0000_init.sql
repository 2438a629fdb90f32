CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant` text NOT NULL,
	`role` text NOT NULL,
	`name` text,
	`hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE INDEX `api_keys_by_tenant` ON `api_keys` (`tenant`,`created_at`);--> statement-breakpoint
CREATE TABLE `events` (
	`tenant` text NOT NULL,
	`session_id` text NOT NULL,
	`seq` integer NOT NULL,
	`type` text NOT NULL,
	`role` text,
	`name` text,
	`tokens` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`tenant`, `session_id`, `seq`)
);
--> statement-breakpoint
CREATE INDEX `events_by_type` ON `events` (`tenant`,`type`,`created_at`);--> statement-breakpoint
CREATE TABLE `sessions` (
	`tenant` text NOT NULL,
	`id` text NOT NULL,
	`status` text NOT NULL,
	`agent` text,
	`subject` text,
	`parent_id` text,
	`version` integer NOT NULL,
	`event_count` integer NOT NULL,
	`tokens_total` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`deleted_at` integer,
	PRIMARY KEY(`tenant`, `id`)
);
--> statement-breakpoint
CREATE INDEX `sessions_by_updated` ON `sessions` (`tenant`,`updated_at`,`id`);--> statement-breakpoint
CREATE INDEX `sessions_by_agent` ON `sessions` (`tenant`,`agent`,`updated_at`);--> statement-breakpoint
CREATE INDEX `sessions_by_subject` ON `sessions` (`tenant`,`subject`,`updated_at`);--> statement-breakpoint
CREATE INDEX `sessions_by_parent` ON `sessions` (`tenant`,`parent_id`);