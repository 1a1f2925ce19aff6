using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Xapi.Cqrs.Bench;

/// <summary>One HTTP answer: status, body (parsed on demand) and how long the request took.</summary>
internal sealed class Answer(int status, string text, TimeSpan elapsed)
{
    private JsonElement? json;

    public int Status => status;
    public string Text => text;
    public TimeSpan Elapsed => elapsed;
    public bool IsSuccess => status is >= 200 and < 300;
    public bool Is5xx => status >= 500;

    public JsonElement Json => json ??= Parse(text);

    /// <summary>The problem+json <c>code</c>, if the body has one.</summary>
    public string? Code =>
        Json.ValueKind == JsonValueKind.Object && Json.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.String
            ? code.GetString()
            : null;

    /// <summary>"409 VM_BAD_POWER_STATE": the status and the xapi code, as failures are counted.</summary>
    public string Describe() => $"{status} {Code ?? "(no code)"}";

    private static JsonElement Parse(string body)
    {
        try
        {
            return body.Length == 0 ? default : JsonSerializer.Deserialize<JsonElement>(body);
        }
        catch (JsonException)
        {
            return default;
        }
    }
}

/// <summary>The service's HTTP API through the run's one HttpClient, with the pool-admin token.</summary>
internal sealed class Api(HttpClient http, Uri baseUri, string token)
{
    public Uri BaseUri => baseUri;

    /// <summary>The run's client: enough connections for 32 clients plus polling; a request never waits longer than 6 minutes.</summary>
    public static HttpClient NewClient() =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { Timeout = TimeSpan.FromMinutes(6) };

    public Task<Answer> GetAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Get, path, null, ct);

    public Task<Answer> PostAsync(string path, object body, CancellationToken ct) => SendAsync(HttpMethod.Post, path, body, ct);

    /// <summary>A GET that must answer 200; anything else ends the run.</summary>
    public async Task<JsonElement> GetJsonAsync(string path, CancellationToken ct)
    {
        var answer = await GetAsync(path, ct);
        return answer.Status == 200 ? answer.Json : throw Refused("GET", path, answer);
    }

    /// <summary>A POST that must answer 201 <c>{id}</c>; anything else ends the run.</summary>
    public async Task<Guid> CreateAsync(string path, object body, CancellationToken ct)
    {
        var answer = await PostAsync(path, body, ct);
        return answer.Status == 201 && answer.Json.TryGetProperty("id", out var id) && id.TryGetGuid(out var guid)
            ? guid
            : throw Refused("POST", path, answer);
    }

    private async Task<Answer> SendAsync(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, new Uri(baseUri, path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        var started = Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        return new Answer((int)response.StatusCode, text, Stopwatch.GetElapsedTime(started));
    }

    private static BenchException Refused(string method, string path, Answer answer) =>
        new($"{method} {path} answered {answer.Status}: {Shorten(answer.Text)}");

    private static string Shorten(string text) => text.Length <= 400 ? text : text[..400] + "…";
}
