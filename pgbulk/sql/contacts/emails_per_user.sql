-- Emails per user: how many users have k emails (users with none are not counted).
SELECT emails_per_user, count(*) AS users,
       round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS percent
FROM (SELECT count(*) AS emails_per_user FROM emails GROUP BY user_id) AS per_user
GROUP BY emails_per_user
ORDER BY emails_per_user;
