using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Testing.Store;

namespace Xapi.Cqrs.Api.Tests.Fixtures;

/// <summary>
/// The real service on Kestrel at 127.0.0.1 (a free port), on the test PostgreSQL in a schema of its own,
/// with a known admin token. One per test class (IClassFixture), so classes run in parallel.
/// </summary>
public class XapiServer : IAsyncLifetime
{
    private WebApplication? app;

    public string AdminToken { get; } = "admin-" + Guid.NewGuid().ToString("N");

    public string Schema { get; } = TestDatabase.NewSchema("api");

    public string DataDir { get; } = Path.Combine(Path.GetTempPath(), "xapi-test-" + Guid.NewGuid().ToString("N"));

    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1");

    public IServiceProvider Services => app!.Services;

    /// <summary>Extra command-line style settings for a subclass (e.g. "--Xapi:Seed=42").</summary>
    protected virtual IEnumerable<string> Settings => [];

    public ValueTask InitializeAsync() => StartAsync();

    /// <summary>Stops the service (its agents with work in flight) and starts it again on the same schema and data directory.</summary>
    public async Task RestartAsync()
    {
        await app!.StopAsync(TestContext.Current.CancellationToken);
        await app.DisposeAsync();
        await StartAsync();
    }

    private async ValueTask StartAsync()
    {
        string[] args =
        [
            "--urls=http://127.0.0.1:0",
            $"--ConnectionStrings:EventStore={TestDatabase.ConnectionString}",
            $"--Xapi:Schema={Schema}",
            $"--Xapi:AdminToken={AdminToken}",
            $"--Xapi:DataDir={DataDir}",
            .. Settings,
        ];
        app = XapiApp.Build(args, b => b.Logging.SetMinimumLevel(LogLevel.Error));
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address);
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        if (Directory.Exists(DataDir))
        {
            Directory.Delete(DataDir, recursive: true);
        }
    }

    /// <summary>An HTTP client with the given bearer token (the admin's by default; null for none).</summary>
    public HttpClient Client(string? token = "") =>
        new() { BaseAddress = BaseAddress, DefaultRequestHeaders = { Authorization = token is null ? null : new AuthenticationHeaderValue("Bearer", token == "" ? AdminToken : token) } };

    /// <summary>A client whose token has the given role (created through POST /api/admin/tokens).</summary>
    public async Task<HttpClient> ClientWithRole(string role)
    {
        using var admin = Client();
        var response = await admin.PostAsJsonAsync("/api/admin/tokens", new { subject = $"user-{role}", role });
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<TokenAnswer>();
        return Client(body!.Token);
    }

    private sealed record TokenAnswer(string Token);
}
