using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Api;
using Xapi.Cqrs.Testing.Store;

namespace Xapi.Cqrs.Cli.Tests;

/// <summary>
/// The real service on Kestrel at 127.0.0.1 (a free port), on the test PostgreSQL (XAPI_TEST_PG) in a schema of its
/// own, with a known admin token and the demo pool (four simulated hosts host1…host4; halted VMs web01, web02, db01,
/// build01, cache01, test01, each with a disk and a NIC). One per test class, so classes run in parallel.
/// </summary>
public sealed class XapiServer : IAsyncLifetime
{
    private WebApplication? app;

    public string AdminToken { get; } = "admin-" + Guid.NewGuid().ToString("N");

    public string Schema { get; } = TestDatabase.NewSchema("cli");

    public string DataDir { get; } = Path.Combine(Path.GetTempPath(), "xapi-cli-test-" + Guid.NewGuid().ToString("N"));

    public string Url { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        string[] args =
        [
            "--urls=http://127.0.0.1:0",
            $"--ConnectionStrings:EventStore={TestDatabase.ConnectionString}",
            $"--Xapi:Schema={Schema}",
            $"--Xapi:AdminToken={AdminToken}",
            $"--Xapi:DataDir={DataDir}",
            "--Xapi:DemoPool=true",
            "--Xapi:Seed=42",
        ];
        app = XapiApp.Build(args, b => b.Logging.SetMinimumLevel(LogLevel.Error));
        await app.StartAsync(TestContext.Current.CancellationToken); // the demo pool is registered before this returns
        Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
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

    /// <summary>Runs xapi against this server with the admin token (or the one given).</summary>
    public Task<CliRun> Xapi(params string[] args) => Cli.Run([.. args, "--server", Url, "--token", AdminToken]);

    public Task<CliRun> XapiWithToken(string token, params string[] args) => Cli.Run([.. args, "--server", Url, "--token", token]);

    /// <summary>As <see cref="Xapi"/>, on a console that draws live progress (as a terminal would).</summary>
    public Task<CliRun> XapiInteractive(params string[] args) => Cli.Run(interactive: true, [.. args, "--server", Url, "--token", AdminToken]);

    public HttpClient Http()
    {
        var http = new HttpClient { BaseAddress = new Uri(Url) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminToken);
        return http;
    }
}
