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
CREATE TABLE `session_metrics` (
	`tenant` text NOT NULL,
	`session_id` text NOT NULL,
	`name` text NOT NULL,
	`label` text NOT NULL,
	`value` integer NOT NULL,
	PRIMARY KEY(`tenant`, `session_id`, `name`, `label`)
);
--> statement-breakpoint
CREATE INDEX `session_metrics_by_name` ON `session_metrics` (`tenant`,`name`);--> statement-breakpoint
CREATE TABLE `tenant_settings` (
	`tenant` text PRIMARY KEY NOT NULL,
	`retention` text,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `api_keys` ADD `scopes` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `agent` text;--> statement-breakpoint
ALTER TABLE `sessions` ADD `paused` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `sessions` ADD `context_tokens` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `sessions` ADD `model_window` integer DEFAULT 128000 NOT NULL;