-- Thumbnails of raster images (fixed sizes, JPEG), made by a job; what it made or why not.
ALTER TABLE files.versions ADD COLUMN thumbnails text CHECK (length(thumbnails) <= 200);
