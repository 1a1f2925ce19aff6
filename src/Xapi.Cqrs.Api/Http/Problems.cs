using System.Text.Json;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Api.Http;

/// <summary>
/// Errors as RFC 9457 problem+json with the xapi <c>code</c> and <c>params</c>. Shape errors are 400
/// (with <c>errors</c>), unknown objects 404, state refusals 409, missing or unknown tokens 401, roles
/// that may not 403, what a backend cannot do (NOT_IMPLEMENTED) 501. Anything unexpected is a 500 INTERNAL_ERROR that names no internals.
/// </summary>
public static class Problems
{
    public const string ContentType = "application/problem+json";

    public static Task WriteAsync(HttpContext http, int status, string code, IReadOnlyList<string> parameters, string detail, IReadOnlyDictionary<string, string[]>? errors = null)
    {
        var body = new Dictionary<string, object?>
        {
            ["type"] = $"https://xapi-cqrs/errors/{code}",
            ["title"] = code,
            ["status"] = status,
            ["detail"] = detail,
            ["code"] = code,
            ["params"] = parameters,
        };
        if (errors is not null)
        {
            body["errors"] = errors;
        }

        if (http.Items.TryGetValue(Correlation.ItemKey, out var correlation))
        {
            body["correlationId"] = correlation;
        }

        http.Response.StatusCode = status;
        http.Response.ContentType = ContentType;
        return http.Response.WriteAsync(JsonSerializer.Serialize(body, JsonSerializerOptions.Web));
    }

    /// <summary>Maps an exception escaping an endpoint to its problem answer.</summary>
    public static async Task HandleAsync(HttpContext http, Exception e, ILogger log)
    {
        if (http.Response.HasStarted)
        {
            log.LogError(e, "error after the response started");
            return;
        }

        http.Response.Clear();
        switch (e)
        {
            case RequestValidationException v:
                await WriteAsync(http, 400, v.Code, v.Params, "The request is not valid.", v.Errors);
                break;
            case XapiException { Code: ErrorCodes.HandleInvalid } x:
                await WriteAsync(http, 404, x.Code, x.Params, $"No {x.Params.FirstOrDefault()} with that id.");
                break;
            case XapiException { Code: ErrorCodes.RbacPermissionDenied } x:
                await WriteAsync(http, 403, x.Code, x.Params, "The caller's role may not do this.");
                break;
            case XapiException { Code: ErrorCodes.NotImplemented } x:
                await WriteAsync(http, 501, x.Code, x.Params, "This host's hypervisor does not implement this.");
                break;
            case XapiException x:
                await WriteAsync(http, 409, x.Code, x.Params, x.Message);
                break;
            case ServiceBusyException busy:
                http.Response.Headers.RetryAfter = ((int)Math.Ceiling(busy.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                await WriteAsync(http, 503, ServiceBusyException.Code, [], busy.Message + "; nothing was written, retry later.");
                break;
            case BadHttpRequestException { StatusCode: 413 }:
                await WriteAsync(http, 413, ErrorCodes.InvalidValue, ["body", "too large"], "The request body is too large.");
                break;
            case BadHttpRequestException { InnerException: JsonException { Path: { Length: > 2 } path } j } when j.Message.Contains("could not be converted", StringComparison.Ordinal):
                await WriteAsync(http, 400, ErrorCodes.InvalidValue, [path[2..], "the value has the wrong type"], $"{path[2..]}: the value has the wrong type.");
                break;
            case BadHttpRequestException b:
                await WriteAsync(http, 400, ErrorCodes.InvalidValue, ["body", Describe(b)], "The request body could not be read: " + Describe(b));
                break;
            case OperationCanceledException when http.RequestAborted.IsCancellationRequested:
                break;
            default:
                log.LogError(e, "unexpected error on {Method} {Path}", http.Request.Method, http.Request.Path);
                await WriteAsync(http, 500, ErrorCodes.InternalError, [], "An unexpected error occurred; nothing of this request was written. Quote the correlation id when reporting it.");
                break;
        }
    }

    /// <summary>What was wrong with the body, without internals (e.g. "$.memoryTotal: expected a number").</summary>
    private static string Describe(BadHttpRequestException b) => b.InnerException switch
    {
        JsonException { Path: { } path } j => $"{path}: {FirstSentence(j.Message)}",
        JsonException j => FirstSentence(j.Message),
        _ => FirstSentence(b.Message),
    };

    private static string FirstSentence(string message)
    {
        var line = message.Split('\n')[0];
        var cut = line.IndexOf(". Path:", StringComparison.Ordinal);
        return (cut > 0 ? line[..cut] : line).TrimEnd('.');
    }
}
