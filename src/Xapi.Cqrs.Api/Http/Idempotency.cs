using System.Security.Cryptography;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Api.Http;

/// <summary>
/// Idempotency-Key on POST /api/…: the first answer (status, body, Location) is kept per caller, path and
/// key; the same key with the same body gets it again and nothing new is written. The same key with
/// another body is refused; a key whose first request is still running answers 409.
/// </summary>
public static class Idempotency
{
    public const string Header = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";

    public static async Task Middleware(HttpContext http, RequestDelegate next)
    {
        var key = http.Request.Headers[Header].ToString();
        if (!HttpMethods.IsPost(http.Request.Method) || key.Length == 0 || !http.Items.ContainsKey(Auth.CallerKey))
        {
            await next(http);
            return;
        }

        if (key.Length > 200)
        {
            await Problems.WriteAsync(http, 400, ErrorCodes.InvalidValue, [Header, "longer than 200 characters"], "The idempotency key is too long.");
            return;
        }

        var caller = Auth.CallerOf(http);
        http.Request.EnableBuffering();
        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer, http.RequestAborted);
        http.Request.Body.Position = 0;
        var hash = Convert.ToHexStringLower(SHA256.HashData([.. buffer.ToArray(), .. System.Text.Encoding.UTF8.GetBytes(http.Request.QueryString.Value ?? "")]));
        var id = $"{caller.Subject}|{http.Request.Path}|{key}";

        var store = http.RequestServices.GetRequiredService<IdempotencyStore>();
        var (outcome, record) = await store.BeginAsync(id, hash, http.RequestAborted);
        switch (outcome)
        {
            case IdempotencyStore.Outcome.Replay:
                http.Response.StatusCode = record!.StatusCode;
                http.Response.ContentType = record.ContentType;
                http.Response.Headers[ReplayedHeader] = "true";
                if (record.Location is not null)
                {
                    http.Response.Headers.Location = record.Location;
                }

                await http.Response.WriteAsync(record.Body, http.RequestAborted);
                return;
            case IdempotencyStore.Outcome.Mismatch:
                await Problems.WriteAsync(http, 422, ErrorCodes.InvalidValue, [Header, key, "already used with a different request"],
                    "This idempotency key was used with a different request body.");
                return;
            case IdempotencyStore.Outcome.InProgress:
                await Problems.WriteAsync(http, 409, ErrorCodes.OtherOperationInProgress, ["request", key],
                    "The first request with this idempotency key is still running; retry later.");
                return;
        }

        var original = http.Response.Body;
        using var captured = new MemoryStream();
        http.Response.Body = captured;
        try
        {
            await next(http);
        }
        catch (Exception e)
        {
            // Refusals are answers too: write the problem here so the retry gets the same one.
            await Problems.HandleAsync(http, e, http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Xapi.Idempotency"));
        }
        finally
        {
            http.Response.Body = original;
        }

        captured.Position = 0;
        var body = await new StreamReader(captured).ReadToEndAsync(http.RequestAborted);
        if (http.Response.StatusCode >= 500)
        {
            await store.AbandonAsync(id, CancellationToken.None);
        }
        else
        {
            await store.CompleteAsync(id, hash, http.Response.StatusCode, http.Response.ContentType ?? "application/json", body,
                http.Response.Headers.Location.ToString() is { Length: > 0 } location ? location : null, CancellationToken.None);
        }

        captured.Position = 0;
        await captured.CopyToAsync(original, http.RequestAborted);
    }
}
