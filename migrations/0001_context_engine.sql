CREATE TABLE `checkpoints` (
	`tenant` text NOT NULL,
	`session_id` text NOT NULL,
	`name` text NOT NULL,
	`version` integer NOT NULL,
	`last_seq` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`tenant`, `session_id`, `name`)
);
--> statement-breakpoint
CREATE TABLE `compactions` (
	`tenant` text NOT NULL,
	`session_id` text NOT NULL,
	`id` integer NOT NULL,
	`version` integer NOT NULL,
	`from_seq` integer NOT NULL,
	`to_seq` integer NOT NULL,
	`archived_events` integer NOT NULL,
	`before_tokens` integer NOT NULL,
	`after_tokens` integer NOT NULL,
	`summarizer` text NOT NULL,
	`trigger` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`tenant`, `session_id`, `id`)
);
--> statement-breakpoint
CREATE INDEX `compactions_by_time` ON `compactions` (`tenant`,`created_at`);