using Microsoft.Playwright;
using Shouldly;
using static Microsoft.Playwright.Assertions;

namespace Xapi.Cqrs.Console.Tests;

/// <summary>
/// The web console in Debian's chromium, against the real service: sign in, the pool, a VM's start with its live task
/// progress, its shutdown, the timeline and its as-of slider, and live updates from the event stream. Playwright's
/// expectations wait (bounded) for what the page shows; nothing sleeps. Screenshots go to the test results.
/// </summary>
public sealed class ConsoleTests(ConsoleServer server) : IClassFixture<ConsoleServer>
{
    static ConsoleTests() => SetDefaultExpectTimeout(20_000);

    private async Task<IPage> SignedInAsync()
    {
        var context = await server.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = server.BaseAddress.ToString(), ViewportSize = new() { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        page.Console += (_, m) => TestContext.Current.TestOutputHelper?.WriteLine($"console {m.Type}: {m.Text}");
        await page.GotoAsync("/");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Sign in" })).ToBeVisibleAsync();
        await page.GetByLabel("Token").FillAsync("not-a-token");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.Locator("#signin-error")).ToContainTextAsync("not known");
        await page.GetByLabel("Token").FillAsync(server.AdminToken);
        await page.Keyboard.PressAsync("Enter"); // the form works from the keyboard
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Pool", Exact = true })).ToBeVisibleAsync();
        await Expect(page.Locator("#live")).ToHaveTextAsync("live");
        errors.ShouldBeEmpty();
        return page;
    }

    private static Task Shot(IPage page, string name) =>
        page.ScreenshotAsync(new() { Path = Path.Combine(ConsoleServer.Screenshots, name + ".png"), FullPage = true });

    [Fact]
    public async Task Sign_in_start_a_vm_watch_it_shut_it_down_and_move_through_its_timeline()
    {
        var (host, vm) = await server.PoolWithVmAsync("web-vm");
        var page = await SignedInAsync();

        // The pool: the host with its memory bar, the VM among the halted ones.
        var hostRow = page.Locator($"tr[data-host='{host}']");
        await Expect(hostRow).ToBeVisibleAsync();
        await Expect(hostRow.GetByRole(AriaRole.Img)).ToHaveAttributeAsync("aria-label", new System.Text.RegularExpressions.Regex("16 GiB total"));
        await Expect(page.Locator("[data-state=Halted]").GetByRole(AriaRole.Link, new() { Name = "web-vm" })).ToBeVisibleAsync();
        await Shot(page, "1-pool");

        await page.GetByRole(AriaRole.Link, new() { Name = "web-vm" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "web-vm" })).ToBeVisibleAsync();
        await Expect(page.Locator("#record [data-power-state]")).ToHaveAttributeAsync("data-power-state", "Halted");
        await Expect(page.Locator("#devices")).ToContainTextAsync("RW");
        await Expect(page.Locator("button[data-op=start_on]")).ToBeVisibleAsync();

        // Start: the task's progress follows until it succeeds; the record shows Running.
        await page.GetByRole(AriaRole.Button, new() { Name = "Start", Exact = true }).ClickAsync();
        await Expect(page.Locator("#task-progress")).ToBeVisibleAsync();
        await Expect(page.Locator("#task-status")).ToHaveAttributeAsync("data-status", "success");
        await Expect(page.Locator("#task-progress")).ToHaveAttributeAsync("value", "100");
        await Expect(page.Locator("#record [data-power-state]")).ToHaveAttributeAsync("data-power-state", "Running");
        await Expect(page.Locator(".timeline")).ToContainTextAsync("resident_on_set");
        await Shot(page, "2-started");

        // Shut it down (clean: the simulated guest has PV drivers).
        await page.GetByRole(AriaRole.Button, new() { Name = "Shut down", Exact = true }).ClickAsync();
        await Expect(page.Locator("#task-status")).ToHaveAttributeAsync("data-status", "success");
        await Expect(page.Locator("#record [data-power-state]")).ToHaveAttributeAsync("data-power-state", "Halted");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Start", Exact = true })).ToBeEnabledAsync();
        await Shot(page, "3-shut-down");

        // The timeline: the slider at the end shows the record now (Halted); moved back to the start's residency it shows Running.
        var slider = page.GetByLabel("As of");
        await Expect(page.Locator(".timeline")).ToContainTextAsync("power_state_changed");
        await Expect(page.Locator("#asof-record [data-power-state]")).ToHaveAttributeAsync("data-power-state", "Halted");
        var events = await page.Locator(".timeline li strong").AllInnerTextsAsync();
        var resident = events.ToList().IndexOf("resident_on_set");
        resident.ShouldBeGreaterThan(0, string.Join(", ", events));
        await slider.FocusAsync();
        await page.Keyboard.PressAsync("Home");
        for (var i = 0; i < resident; i++)
        {
            await page.Keyboard.PressAsync("ArrowRight");
        }

        await Expect(slider).ToHaveValueAsync(resident.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Expect(page.Locator("#asof-text")).ToContainTextAsync("resident_on_set");
        await Expect(page.Locator("#asof-record [data-power-state]")).ToHaveAttributeAsync("data-power-state", "Running");
        await Expect(page.Locator(".timeline li.current")).ToContainTextAsync("resident_on_set");
        await Shot(page, "4-timeline-as-of-running");

        await page.Keyboard.PressAsync("Home");
        await Expect(page.Locator("#asof-text")).ToContainTextAsync("event 1 of");
        await Expect(page.Locator("#asof-record [data-power-state]")).ToHaveAttributeAsync("data-power-state", "Halted");
        await Shot(page, "5-timeline-as-of-created");

        // The explain story of the start: who asked, the host it chose among the candidates, the steps, the outcome, the replay.
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "How each start was decided" })).ToBeVisibleAsync();
        var story = page.Locator("#explain article.story");
        await Expect(story).ToHaveCountAsync(1);
        await Expect(story.GetByRole(AriaRole.Heading)).ToHaveTextAsync("Start 1: start — running");
        await Expect(story).ToContainTextAsync("Asked by admin (pool-admin)");
        await Expect(story.Locator("tbody tr").Filter(new() { HasText = "(chosen)" })).ToHaveCountAsync(1);
        await Expect(story).ToContainTextAsync("Host steps: domain_created");
        await Expect(story).ToContainTextAsync("Outcome: running");
        await Expect(story).ToContainTextAsync("Replaying the draw today chooses the same host.");
        await story.ScrollIntoViewIfNeededAsync();
        await Shot(page, "6-explain");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task The_pool_follows_a_start_made_elsewhere_without_a_reload()
    {
        var (_, vm) = await server.PoolWithVmAsync("elsewhere-vm");
        var page = await SignedInAsync();
        var link = page.GetByRole(AriaRole.Link, new() { Name = "elsewhere-vm" });
        await Expect(page.Locator("[data-state=Halted]").Filter(new() { Has = link })).ToBeVisibleAsync();
        var navigations = 0;
        page.FrameNavigated += (_, _) => navigations++;

        using (var client = server.Client())
        using (var started = await client.PostAsync($"/api/vms/{vm}/start", null, TestContext.Current.CancellationToken))
        {
            started.EnsureSuccessStatusCode();
        }

        await Expect(page.Locator("[data-state=Running]").Filter(new() { Has = link })).ToBeVisibleAsync();
        navigations.ShouldBe(0, "updated in place from the event stream");
        await Shot(page, "6-pool-live");
        await page.Context.CloseAsync();
    }
}
