-- API keys usable only from listed networks (npm's CIDR-restricted tokens). NULL: from anywhere.
ALTER TABLE identity.api_keys ADD COLUMN allowed_cidrs cidr[];
