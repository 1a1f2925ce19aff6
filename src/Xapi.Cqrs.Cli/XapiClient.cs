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

    /// <summary>For the event stream: the same settings without the overall timeout (a tail runs until Ctrl+C).</summary>
    private readonly HttpClient _streaming;

    public XapiClient(Uri server, string token, TimeSpan? timeout = null)
    {
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10) })
        {
            BaseAddress = server,
            // a start waits until the VM runs; Ctrl+C cancels sooner
            Timeout = timeout ?? TimeSpan.FromMinutes(5),
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        _streaming = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10) })
        {
            BaseAddress = server,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _streaming.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public Uri Server => _http.BaseAddress!;

    public Task<Reply<T>> GetAsync<T>(string path, CancellationToken ct) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Get, path), ct);

    public Task<Reply<T>> PostAsync<T>(string path, object body, CancellationToken ct) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, options: Json) }, ct);

    /// <summary>A call without a body (the lifecycle verbs): the answer as <typeparamref name="T"/>.</summary>
    public Task<Reply<T>> PostAsync<T>(string path, CancellationToken ct) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Post, path), ct);

    /// <summary>A GET answered as text (a console log): the text as sent.</summary>
    public async Task<string> GetTextAsync(string path, CancellationToken ct) =>
        await SendRawAsync(new HttpRequestMessage(HttpMethod.Get, path), ct);

    /// <summary>A call without a body whose answer the CLI does not read (destroy): the text as sent, maybe empty.</summary>
    public async Task<Reply<string>> PostAsync(string path, CancellationToken ct)
    {
        var body = await SendRawAsync(new HttpRequestMessage(HttpMethod.Post, path), ct);
        return new Reply<string>(body, body);
    }

    /// <summary>
    /// A listing served in pages (history): every page, following each answer's <c>Link: &lt;…&gt;; rel="next"</c>
    /// until there is none. The JSON is the one array of every page's elements, as if the server had sent it whole.
    /// </summary>
    public async Task<Reply<List<T>>> GetAllPagesAsync<T>(string path, CancellationToken ct)
    {
        var values = new List<T>();
        var raw = new List<string>();
        string? next = path;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (next is not null)
        {
            if (!seen.Add(next))
            {
                throw new CliException(ExitCodes.Failed, $"the server's next page link repeats itself ({next})");
            }
            using var request = new HttpRequestMessage(HttpMethod.Get, next);
            var (body, headers) = await SendForHeadersAsync(request, ct);
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
            {
                throw new JsonException($"{next} answered {doc.RootElement.ValueKind}, not an array");
            }
            foreach (var element in doc.RootElement.EnumerateArray())
            {
                values.Add(element.Deserialize<T>(Json) ?? throw new JsonException($"{next} answered a null element"));
                raw.Add(element.GetRawText());
            }
            next = NextLink(headers);
        }
        return new Reply<List<T>>(values, "[" + string.Join(",", raw) + "]");
    }

    /// <summary>A command answered 202 Accepted: the task to follow, from the body's taskId (or the Location header).</summary>
    public async Task<Reply<Accepted>> PostAcceptedAsync(string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: Json);
        }
        var (text, headers) = await SendForHeadersAsync(request, ct);
        var accepted = text.Length > 0 ? JsonSerializer.Deserialize<Accepted>(text, Json) : null;
        var taskId = accepted?.TaskId ?? headers.Location?.OriginalString.Split('/').LastOrDefault();
        if (string.IsNullOrEmpty(taskId))
        {
            throw new JsonException($"{path} answered without a task id");
        }
        return new Reply<Accepted>(new Accepted(taskId), text);
    }

    /// <summary>A long-lived GET (server-sent events): the open response, for the caller to read and dispose.</summary>
    public async Task<HttpResponseMessage> OpenStreamAsync(string path, string accept, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Clear();
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        var response = await _streaming.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (!response.IsSuccessStatusCode)
        {
            using (response)
            {
                var body = await response.Content.ReadAsStringAsync(ct);
                throw new XapiProblemException(Problem.Parse((int)response.StatusCode, response.ReasonPhrase ?? "", body));
            }
        }
        return response;
    }

    /// <summary>The target of a <c>Link</c> header's rel="next", or null.</summary>
    internal static string? NextLink(HttpResponseHeaders headers)
    {
        if (!headers.TryGetValues("Link", out var links))
        {
            return null;
        }
        foreach (var part in links.SelectMany(l => l.Split(',')))
        {
            var pieces = part.Split(';', StringSplitOptions.TrimEntries);
            if (pieces.Length > 1 && pieces[0].StartsWith('<') && pieces[0].EndsWith('>')
                && pieces.Skip(1).Any(p => p.Replace(" ", "", StringComparison.Ordinal) is "rel=\"next\"" or "rel=next"))
            {
                return pieces[0][1..^1];
            }
        }
        return null;
    }

    private async Task<(string Body, HttpResponseHeaders Headers)> SendForHeadersAsync(HttpRequestMessage request, CancellationToken ct)
    {
        using var response = await _http.SendAsync(request, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new XapiProblemException(Problem.Parse((int)response.StatusCode, response.ReasonPhrase ?? "", body));
        }
        return (body, response.Headers);
    }

    /// <summary>DELETE (a device's destroy): the text as sent, maybe empty.</summary>
    public async Task<Reply<string>> DeleteAsync(string path, CancellationToken ct)
    {
        var body = await SendRawAsync(new HttpRequestMessage(HttpMethod.Delete, path), ct);
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

    public void Dispose()
    {
        _http.Dispose();
        _streaming.Dispose();
    }
}
