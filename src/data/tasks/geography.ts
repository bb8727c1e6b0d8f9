// Geography facts: US state capitals (stdlib dataset) and country capitals, continents and
// currency codes (countries-list). Answers are names or three-letter codes.
import { loadCountries, loadStateCapitals } from '../sources.js';
import { block, family, inline, system } from './common.js';

export const stateCapital = family<{ state: string }>({
  name: 'state_capital',
  description: 'Name the capital of a US state.',
  source: 'us-states-capitals',
  metric: 'normalized',
  templates: [
    inline('what_is', (x) => `What is the capital of ${x.state}?`),
    inline('city', (x) => `Which city is the capital of the state of ${x.state}?`),
    block('block', 'Name the capital city of this US state.', (x) => x.state),
    system('system', 'You answer with the capital city of the US state the user names.', (x) => x.state),
  ],
  items: () => loadStateCapitals().map((s) => ({ key: `state:${s.state}`, input: { state: s.state }, answer: s.capital })),
});

// Country families share the `country:` key namespace, so a held-out country is held out in all.
const countries = () => loadCountries().filter((c) => c.capital !== '' && c.name.length <= 30);

export const countryCapital = family<{ country: string }>({
  name: 'country_capital',
  description: 'Name the capital of a country.',
  source: 'countries-list',
  metric: 'normalized',
  templates: [
    inline('what_is', (x) => `What is the capital of ${x.country}?`),
    block('block', 'Name the capital city of this country.', (x) => x.country),
    system('system', 'Reply with the capital city of the country the user names.', (x) => x.country),
    inline('seat', (x) => `${x.country}${x.country.endsWith('s') ? "'" : "'s"} capital city is called what?`),
  ],
  items: () => countries().map((c) => ({ key: `country:${c.code}`, input: { country: c.name }, answer: c.capital })),
});

export const countryContinent = family<{ country: string }>({
  name: 'country_continent',
  description: 'Name the continent a country is on.',
  source: 'countries-list',
  metric: 'normalized',
  templates: [
    inline('which', (x) => `On which continent is ${x.country}?`),
    block('block', 'Name the continent where this country lies.', (x) => x.country),
    system('system', 'Reply with the continent of the country the user names.', (x) => x.country),
  ],
  items: () =>
    countries()
      .filter((c) => c.continent !== '')
      .map((c) => ({ key: `country:${c.code}`, input: { country: c.name }, answer: c.continent })),
});

export const countryCurrency = family<{ country: string }>({
  name: 'country_currency',
  description: 'Give the ISO 4217 code of a country\'s currency.',
  source: 'countries-list',
  metric: 'normalized',
  templates: [
    inline('code', (x) => `What is the currency code of ${x.country}?`),
    block('block', 'Give the three-letter currency code used in this country.', (x) => x.country),
    system('system', 'Reply with the ISO currency code of the country the user names.', (x) => x.country),
  ],
  items: () =>
    countries()
      .filter((c) => /^[A-Z]{3}$/.test(c.currency))
      .map((c) => ({ key: `country:${c.code}`, input: { country: c.name }, answer: c.currency })),
});

export const GEOGRAPHY_FAMILIES = [stateCapital, countryCapital, countryContinent, countryCurrency];
