using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using Xapi.Cqrs.Api;
using Xapi.Cqrs.Testing.Store;

namespace Xapi.Cqrs.Console.Tests;

/// <summary>
/// The service on Kestrel at 127.0.0.1 (a free port, its own schema of the test PostgreSQL, a known admin token), and one
/// headless Debian chromium driven by Playwright: <c>/usr/bin/chromium</c>, never a browser Playwright downloads.
/// </summary>
public sealed class ConsoleServer : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";

    private WebApplication? app;
    private IPlaywright? playwright;

    public string AdminToken { get; } = "admin-" + Guid.NewGuid().ToString("N");

    public string DataDir { get; } = Path.Combine(Path.GetTempPath(), "xapi-console-" + Guid.NewGuid().ToString("N"));

    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1");

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Where screenshots go: the test results directory (XAPI_TEST_RESULTS, set by ops/test), else TestResults/ beside the build.</summary>
    public static string Screenshots { get; } = Path.Combine(
        Environment.GetEnvironmentVariable("XAPI_TEST_RESULTS") is { Length: > 0 } results ? results : Path.Combine(AppContext.BaseDirectory, "TestResults"),
        "console-screenshots");

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(Chromium))
        {
            throw new InvalidOperationException($"{Chromium} is missing: ops/test installs it (apt-get install chromium fonts-dejavu-core)");
        }

        app = XapiApp.Build(
        [
            "--urls=http://127.0.0.1:0",
            $"--ConnectionStrings:EventStore={TestDatabase.ConnectionString}",
            $"--Xapi:Schema={TestDatabase.NewSchema("console")}",
            $"--Xapi:AdminToken={AdminToken}",
            $"--Xapi:DataDir={DataDir}",
        ], b => b.Logging.SetMinimumLevel(LogLevel.Error));
        await app.StartAsync(TestContext.Current.CancellationToken);
        BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

        playwright = await Playwright.CreateAsync();
        Browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox"],
        });
        Directory.CreateDirectory(Screenshots);
    }

    public async ValueTask DisposeAsync()
    {
        if (playwright is not null)
        {
            await Browser.CloseAsync();
            playwright.Dispose();
        }

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

    public HttpClient Client() => new() { BaseAddress = BaseAddress, DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", AdminToken) } };

    /// <summary>Creates an object through the API and answers its id.</summary>
    public async Task<Guid> CreateAsync(string path, object body)
    {
        using var client = Client();
        using var response = await client.PostAsJsonAsync(path, body, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST {path}: {(int)response.StatusCode} {text}");
        }

        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetGuid();
    }

    /// <summary>A pool of one simulated host (16 GiB) on a network and an SR, and a halted 1 GiB VM with a disk and a NIC.</summary>
    public async Task<(Guid Host, Guid Vm)> PoolWithVmAsync(string vmName)
    {
        const long GiB = 1L << 30;
        var network = await CreateAsync("/api/networks", new { nameLabel = "net" });
        var sr = await CreateAsync("/api/srs", new { nameLabel = "sr", shared = true });
        var host = await CreateAsync("/api/hosts", new
        {
            nameLabel = "host-" + vmName, address = "10.0.0.1", memoryTotal = 16 * GiB, memoryOverhead = GiB / 2, cpuCount = 8, hvmCapable = true,
            networks = new[] { network }, srs = new[] { sr }, hypervisor = "simulated",
        });
        var vm = await CreateAsync("/api/vms", new
        {
            nameLabel = vmName, vcpusMax = 2, vcpusAtStartup = 2, memoryStaticMin = GiB, memoryDynamicMin = GiB, memoryDynamicMax = GiB, memoryStaticMax = GiB, domainType = "hvm",
        });
        var vdi = await CreateAsync("/api/vdis", new { srId = sr, nameLabel = "disk", virtualSize = 10 * GiB, readOnly = false, sharable = false });
        await CreateAsync($"/api/vms/{vm}/vbds", new { vdiId = vdi, userdevice = "0", mode = "RW", type = "Disk", bootable = true });
        await CreateAsync($"/api/vms/{vm}/vifs", new { networkId = network, device = "0" });
        return (host, vm);
    }
}
