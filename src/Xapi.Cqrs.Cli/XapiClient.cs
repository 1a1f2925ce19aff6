using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Xapi.Cqrs.Cli;

/// <summary>An answer the CLI could use: the typed value and the body exactly as the server sent it (for --json).</summary>
internal sealed record Reply<T>(T Value, string Json);

/// <summary>
/// A non-2xx answer. <see cref="Code"/> and <see cref="Params"/> are the problem+json extensions of API.md;
/// <see cref="Errors"/> is the validation map of a 400. A body that is not problem+json keeps only status and text.
/// </summary>
internal sealed record Problem(
    int Status,
    string Reason,
    string? Code,
    IReadOnlyList<string> Params,
    IReadOnlyList<KeyValuePair<string, string[]>> Errors,
    string? Detail,
    string Body)
{
    public static Problem Parse(int status, string reason, string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                return new Problem(
                    status,
                    reason,
                    root.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.String ? code.GetString() : null,
                    root.TryGetProperty("params", out var ps) && ps.ValueKind == JsonValueKind.Array ? [.. ps.EnumerateArray().Select(Text)] : [],
                    root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object
                        ? [.. errors.EnumerateObject().Select(e => KeyValuePair.Create(e.Name, Texts(e.Value)))]
                        : [],
                    root.TryGetProperty("detail", out var detail) && detail.ValueKind == JsonValueKind.String ? detail.GetString() : null,
                    body);
            }
        }
        catch (JsonException)
        {
            // not JSON (a proxy's HTML page, an empty body): fall through and keep the text
        }
        return new Problem(status, reason, null, [], [], null, body);
    }

    private static string Text(JsonElement e) => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText();

    private static string[] Texts(JsonElement e) =>
        e.ValueKind == JsonValueKind.Array ? [.. e.EnumerateArray().Select(Text)] : [Text(e)];
}

/// <summary>The server answered, but not with success.</summary>
internal sealed class XapiProblemException(Problem problem)
    : Exception($"{problem.Status} {problem.Code ?? problem.Reason}")
{
    public Problem Problem { get; } = problem;
}

/// <summary>
/// A thin wrapper over HttpClient for the HTTP contract in API.md: bearer token, JSON in and out.
/// Failures are thrown (<see cref="XapiProblemException"/> for an answer, <see cref="HttpRequestException"/>
/// for no answer) so each command reads as a straight line and one place maps them to exit codes.
/// </summary>
internal sealed class XapiClient : IDisposable
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly HttpClient _http;

    public XapiClient(Uri server, string token)
    {
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10) })
        {
            BaseAddress = server,
            // a start waits until the VM runs; Ctrl+C cancels sooner
            Timeout = TimeSpan.FromMinutes(5),
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
    }

    public Uri Server => _http.BaseAddress!;

    public Task<Reply<T>> GetAsync<T>(string path, CancellationToken ct) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Get, path), ct);

    public Task<Reply<T>> PostAsync<T>(string path, object body, CancellationToken ct) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, options: Json) }, ct);

    /// <summary>A call without a body (the lifecycle verbs): the answer as <typeparamref name="T"/>.</summary>
    public Task<Reply<T>> PostAsync<T>(string path, CancellationToken ct) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Post, path), ct);

    /// <summary>A call without a body whose answer the CLI does not read (destroy): the text as sent, maybe empty.</summary>
    public async Task<Reply<string>> PostAsync(string path, CancellationToken ct)
    {
        var body = await SendRawAsync(new HttpRequestMessage(HttpMethod.Post, path), ct);
        return new Reply<string>(body, body);
    }

    private async Task<Reply<T>> SendAsync<T>(HttpRequestMessage request, CancellationToken ct)
    {
        var uri = request.RequestUri;
        var body = await SendRawAsync(request, ct);
        var value = JsonSerializer.Deserialize<T>(body, Json)
            ?? throw new JsonException($"{uri} answered an empty body");
        return new Reply<T>(value, body);
    }

    private async Task<string> SendRawAsync(HttpRequestMessage request, CancellationToken ct)
    {
        using (request)
        {
            using var response = await _http.SendAsync(request, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            if (!response.IsSuccessStatusCode)
            {
                throw new XapiProblemException(Problem.Parse((int)response.StatusCode, response.ReasonPhrase ?? "", body));
            }
            return body;
        }
    }

    public void Dispose() => _http.Dispose();
}
