CREATE TABLE `audit` (
	`tenant` text NOT NULL,
	`session_id` text NOT NULL,
	`seq` integer NOT NULL,
	`at` integer NOT NULL,
	`principal` text NOT NULL,
	`agent` text,
	`operation` text NOT NULL,
	`version` integer NOT NULL,
	`what` text,
	`request_id` text,
	PRIMARY KEY(`tenant`, `session_id`, `seq`)
);
--> statement-breakpoint
CREATE INDEX `audit_by_time` ON `audit` (`tenant`,`at`);--> statement-breakpoint
CREATE INDEX `audit_by_principal` ON `audit` (`tenant`,`principal`,`at`);--> statement-breakpoint
CREATE TABLE `revoked_tokens` (
	`tenant` text NOT NULL,
	`id` text NOT NULL,
	`revoked_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	PRIMARY KEY(`tenant`, `id`)
);
--> statement-breakpoint
CREATE INDEX `revoked_tokens_by_expiry` ON `revoked_tokens` (`expires_at`);--> statement-breakpoint
ALTER TABLE `api_keys` ADD `scopes` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `agent` text;