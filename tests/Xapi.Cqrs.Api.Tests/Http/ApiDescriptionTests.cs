using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Http;

/// <summary>
/// The OpenAPI document at /openapi/v1.json describes the service as it is mapped: every route (read from the routing's
/// own endpoint data source), with its answers, the problem+json refusals and the bearer scheme; and the README's curl
/// examples name paths, methods and query parameters the document has.
/// </summary>
public sealed partial class ApiDescriptionTests(XapiServer server) : IClassFixture<XapiServer>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<JsonElement> Document()
    {
        using var client = server.Client(token: null);
        using var response = await client.GetAsync("/openapi/v1.json", Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Every route the service maps, as (METHOD, /path/{param}) with route constraints dropped; the fallback and the description's own routes left out.</summary>
    private List<(string Method, string Path)> MappedRoutes()
    {
        var routes = new List<(string, string)>();
        foreach (var endpoint in server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            var pattern = "/" + (endpoint.RoutePattern.RawText ?? "").TrimStart('/');
            if (pattern.Contains("{**", StringComparison.Ordinal) || pattern.StartsWith("/openapi", StringComparison.Ordinal) || pattern.StartsWith("/docs", StringComparison.Ordinal)
                || endpoint.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is { ExcludeFromDescription: true })
            {
                continue;
            }

            var path = RouteConstraint().Replace(pattern.Length > 1 ? pattern.TrimEnd('/') : pattern, "{$1}"); // a group's "" route is /api/vms/
            foreach (var method in endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"])
            {
                routes.Add((method, path));
            }
        }

        return routes;
    }

    [Fact]
    public async Task Every_mapped_route_is_in_the_document_with_its_answers()
    {
        var document = await Document();
        document.GetProperty("openapi").GetString().ShouldStartWith("3.1");
        var paths = document.GetProperty("paths");
        var routes = MappedRoutes();
        routes.Count.ShouldBeGreaterThan(40);
        routes.ShouldContain(("POST", "/api/vms/{id}/start"));

        var missing = routes.Where(r => !paths.TryGetProperty(r.Path, out var item) || !item.TryGetProperty(r.Method.ToLowerInvariant(), out _)).ToList();
        missing.ShouldBeEmpty($"routes missing from /openapi/v1.json: {string.Join(", ", missing)}");

        foreach (var (method, path) in routes.Where(r => r.Path.StartsWith("/api", StringComparison.Ordinal)))
        {
            var operation = paths.GetProperty(path).GetProperty(method.ToLowerInvariant());
            var responses = operation.GetProperty("responses");
            var success = responses.EnumerateObject().Where(r => r.Name.StartsWith('2')).ToList();
            success.ShouldNotBeEmpty($"{method} {path} has no success answer");
            foreach (var answer in success.Where(a => a.Name != "204"))
            {
                answer.Value.TryGetProperty("content", out var content).ShouldBeTrue($"{method} {path} {answer.Name} has no schema");
                content.EnumerateObject().First().Value.TryGetProperty("schema", out _).ShouldBeTrue($"{method} {path} {answer.Name} has no schema");
            }

            foreach (var status in (string[])["401", "403"])
            {
                Problem(responses, status).ShouldBeTrue($"{method} {path} lacks its {status} problem answer");
            }

            if (path.Contains('{', StringComparison.Ordinal))
            {
                Problem(responses, "404").ShouldBeTrue($"{method} {path} lacks its 404 problem answer");
            }

            if (method is "POST" or "DELETE")
            {
                Problem(responses, "409").ShouldBeTrue($"{method} {path} lacks its 409 problem answer");
            }

            operation.GetProperty("security").EnumerateArray().Single().TryGetProperty("bearer", out _).ShouldBeTrue($"{method} {path} names no bearer scheme");
        }

        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer");
        scheme.GetProperty("type").GetString().ShouldBe("http");
        scheme.GetProperty("scheme").GetString().ShouldBe("bearer");
        var problem = document.GetProperty("components").GetProperty("schemas").GetProperty("Problem").GetProperty("properties");
        problem.TryGetProperty("code", out _).ShouldBeTrue();
        problem.TryGetProperty("params", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Start_describes_its_optional_body_and_its_refusals()
    {
        var start = (await Document()).GetProperty("paths").GetProperty("/api/vms/{id}/start").GetProperty("post");
        var body = start.GetProperty("requestBody");
        (body.TryGetProperty("required", out var required) && required.GetBoolean()).ShouldBeFalse("a start needs no body");
        var schema = body.GetProperty("content").GetProperty("application/json").GetProperty("schema");
        schema.GetProperty("properties").TryGetProperty("paused", out _).ShouldBeTrue(schema.ToString());
        schema.GetProperty("properties").TryGetProperty("force", out _).ShouldBeTrue(schema.ToString());
        (schema.TryGetProperty("required", out var req) ? req.GetArrayLength() : 0).ShouldBe(0, "paused and force are optional");
        var conflict = start.GetProperty("responses").GetProperty("409").GetProperty("description").GetString() ?? "";
        conflict.ShouldContain("VM_BAD_POWER_STATE");
        conflict.ShouldContain("NO_HOSTS_AVAILABLE");
        start.GetProperty("responses").GetProperty("202").GetProperty("content").GetProperty("application/json").GetProperty("schema")
            .GetProperty("$ref").GetString().ShouldEndWith("TaskAccepted");

        // The description changed nothing: a start without a body still starts, a body with an unknown field is refused.
        using var client = server.Client();
        var host = await client.CreateHost();
        var vm = await client.CreateVm();
        using (var refused = await client.PostAsync($"/api/vms/{vm}/start", new StringContent("""{"bogus":1}""", System.Text.Encoding.UTF8, "application/json"), Ct))
        {
            await refused.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "bogus", "unknown field");
        }

        using var started = await client.PostAsync($"/api/vms/{vm}/start", null, Ct);
        started.StatusCode.ShouldBe(HttpStatusCode.OK, await started.Content.ReadAsStringAsync(Ct));
        host.ShouldNotBe(Guid.Empty);
    }

    [Fact]
    public async Task The_readme_examples_validate_against_the_document()
    {
        var paths = (await Document()).GetProperty("paths");
        var examples = ReadmeExamples();
        examples.Count.ShouldBeGreaterThan(5);
        foreach (var (method, url) in examples)
        {
            var uri = new Uri("http://127.0.0.1" + url);
            var segments = uri.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
            var match = paths.EnumerateObject().FirstOrDefault(p =>
            {
                var template = p.Name.Split('/', StringSplitOptions.RemoveEmptyEntries);
                return template.Length == segments.Length && template.Zip(segments).All(t => t.First.StartsWith('{') || t.First == t.Second);
            });
            match.Value.ValueKind.ShouldBe(JsonValueKind.Object, $"README: {method} {url} is not a path of the document");
            match.Value.TryGetProperty(method.ToLowerInvariant(), out var operation).ShouldBeTrue($"README: {method} {url}: the document has no {method} {match.Name}");
            var declared = operation.TryGetProperty("parameters", out var parameters)
                ? parameters.EnumerateArray().Where(p => p.GetProperty("in").GetString() == "query").Select(p => p.GetProperty("name").GetString()).ToHashSet()
                : [];
            foreach (var name in System.Web.HttpUtility.ParseQueryString(uri.Query).AllKeys)
            {
                declared.ShouldContain(name, $"README: {method} {url}: query parameter {name} is not declared for {match.Name}");
            }
        }
    }

    /// <summary>The README's curl calls as (method, path and query), with shell variables filled in and for-loops unrolled.</summary>
    private static List<(string Method, string Url)> ReadmeExamples()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Xapi.Cqrs.sln")))
        {
            dir = dir.Parent;
        }

        var readme = File.ReadAllText(Path.Combine(dir!.FullName, "README.md")).Replace("\\\n", " ", StringComparison.Ordinal);
        var examples = new List<(string, string)>();
        string[] loop = [];
        foreach (var line in readme.Split('\n'))
        {
            if (ForLoop().Match(line) is { Success: true } f)
            {
                loop = f.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            }

            if (!line.Contains("curl ", StringComparison.Ordinal))
            {
                continue;
            }

            var method = CurlMethod().Match(line) is { Success: true } m ? m.Groups[1].Value : "GET";
            foreach (Match url in CurlUrl().Matches(line))
            {
                var path = url.Groups[1].Value.Replace("$VM", Guid.NewGuid().ToString(), StringComparison.Ordinal);
                foreach (var value in path.Contains("$op", StringComparison.Ordinal) ? loop : [""])
                {
                    examples.Add((method, path.Replace("$op", value, StringComparison.Ordinal)));
                }
            }
        }

        return examples;
    }

    [GeneratedRegex(@"\{([A-Za-z_]+)(:[^}]*)?\}")]
    private static partial Regex RouteConstraint();

    [GeneratedRegex(@"for op in ([^;]+);")]
    private static partial Regex ForLoop();

    [GeneratedRegex(@"-X ([A-Z]+)")]
    private static partial Regex CurlMethod();

    [GeneratedRegex(@"https?://127\.0\.0\.1:\d+(/[^\s""'|]*)")]
    private static partial Regex CurlUrl();

    private static bool Problem(JsonElement responses, string status) =>
        responses.TryGetProperty(status, out var answer) && answer.TryGetProperty("content", out var content)
        && content.TryGetProperty("application/problem+json", out var media) && media.GetProperty("schema").GetProperty("$ref").GetString()!.EndsWith("/Problem", StringComparison.Ordinal);
}
