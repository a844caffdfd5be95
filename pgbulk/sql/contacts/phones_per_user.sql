-- Phone numbers per user: how many users have k phone numbers (users with none are not counted).
SELECT phones_per_user, count(*) AS users,
       round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS percent
FROM (SELECT count(*) AS phones_per_user FROM phone_numbers GROUP BY user_id) AS per_user
GROUP BY phones_per_user
ORDER BY phones_per_user;
