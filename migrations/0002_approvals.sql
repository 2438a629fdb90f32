CREATE TABLE `approvals` (
	`tenant` text NOT NULL,
	`session_id` text NOT NULL,
	`id` text NOT NULL,
	`status` text NOT NULL,
	`title` text NOT NULL,
	`requested_by` text NOT NULL,
	`deadline` integer,
	`created_at` integer NOT NULL,
	`decided_at` integer,
	`version` integer NOT NULL,
	PRIMARY KEY(`tenant`, `session_id`, `id`)
);
--> statement-breakpoint
CREATE INDEX `approvals_by_status` ON `approvals` (`tenant`,`status`,`created_at`);