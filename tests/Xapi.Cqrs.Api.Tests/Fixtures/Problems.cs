using System.Net;
using System.Text.Json;
using Shouldly;

namespace Xapi.Cqrs.Api.Tests.Fixtures;

/// <summary>Assertions on problem+json answers: status, content type, <c>code</c> and <c>params</c>.</summary>
public static class ProblemAssertions
{
    public const string ContentType = "application/problem+json";

    /// <summary>Asserts status, content type, code and exactly these params; answers the body for further checks.</summary>
    public static async Task<JsonElement> ShouldBeProblem(this HttpResponseMessage response, HttpStatusCode status, string code, params string[] parameters)
    {
        var body = await response.ShouldBeProblemWithCode(status, code);
        body.Params().ShouldBe(parameters, $"params of {body}");
        return body;
    }

    /// <summary>Asserts status, content type and code (not params); answers the body.</summary>
    public static async Task<JsonElement> ShouldBeProblemWithCode(this HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        response.StatusCode.ShouldBe(status, text);
        (response.Content.Headers.ContentType?.MediaType).ShouldBe(ContentType, text);
        var body = JsonDocument.Parse(text).RootElement.Clone();
        body.GetProperty("code").GetString().ShouldBe(code, text);
        body.GetProperty("status").GetInt32().ShouldBe((int)status, text);
        return body;
    }

    public static string[] Params(this JsonElement problem) =>
        [.. problem.GetProperty("params").EnumerateArray().Select(p => p.GetString() ?? "")];
}
